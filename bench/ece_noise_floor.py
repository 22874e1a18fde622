"""How low an ECE a perfectly calibrated model gets on world-cases: the noise floor under claim c.ece10.

    python bench/ece_noise_floor.py [--questions 100] [--draws 1 3 10] [--redraws 200]

A model that states the true probabilities of the top-K answers (to two decimals, as the demo's
models write them) is calibrated by construction, yet its ECE on a finite test set is not 0:
each question's gold is one draw, and ten bins over a few hundred (p, y) pairs keep some of
that noise. For the demo's held-out questions this redraws the golds many times, with one or
more draws per question, and prints the median and 90th percentile of that ECE and how often
it is within the demo's threshold (claims.ECE_MAX). The demo's runs hold one draw per question
(their ECE, which claim c.ece_vs_base compares); claim c.ece10 scores them against
claims.GOLD_DRAWS = 10 further draws per question.
"""

from __future__ import annotations

import argparse
import random
import statistics

from multianswer.evaluation.claims import ECE_MAX, oracle_ece
from multianswer.tasks import get_task
from multianswer.tasks.procedural import draw


def calibrated_ece(distributions: list[dict[str, float]], k: int, draws: int, rng: random.Random) -> float:
    """ECE of stating the true top-k probabilities (two decimals, as the demo's models write them) against
    `draws` fresh golds per question."""
    cases = [(probabilities, draw(probabilities, rng)) for probabilities in distributions for _ in range(draws)]
    return oracle_ece(cases, k, decimals=2)


def main() -> None:
    """Print the noise floor for each number of draws per question."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=100, help="held-out world-cases questions (the demo evaluates 100)")
    parser.add_argument("--draws", type=int, nargs="+", default=[1, 3, 10], help="golds drawn per question")
    parser.add_argument("--redraws", type=int, default=200, help="times every gold is drawn again")
    parser.add_argument("--k", type=int, default=3, help="answers per set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the redraws")
    args = parser.parse_args()

    examples = get_task("world-cases").examples("test", args.questions)
    distributions = [ex.metadata["probabilities"] for ex in examples]
    rng = random.Random(args.seed)
    print(f"ECE of a perfectly calibrated model on {len(examples)} held-out world-cases questions, K = {args.k}, "
          f"{args.redraws} redraws of the golds:\n")
    print(f"| golds per question | (p, y) pairs | median ECE | 90th percentile | share <= {ECE_MAX} |")
    print("|---:|---:|---:|---:|---:|")
    for draws in args.draws:
        eces = sorted(calibrated_ece(distributions, args.k, draws, rng) for _ in range(args.redraws))
        share = sum(e <= ECE_MAX for e in eces) / len(eces)
        p90 = eces[int(0.9 * (len(eces) - 1))]
        print(f"| {draws} | {len(examples) * args.k * draws} | {statistics.median(eces):.3f} | {p90:.3f} | {share:.2f} |")


if __name__ == "__main__":
    main()
