"""What a run's set Brier would be had it stated, at each rank, that rank's own hit rate.

    python bench/brier_reference.py runs/real-lm/geography-mix/seed-0/eval/base-multi-conf \
        runs/real-lm/geography-mix/seed-0/eval/multi-rlcr

The set Brier (sum over the K candidates of (p - y)^2) rewards knowing which candidates are right,
and also rewards being mostly wrong: a run whose candidates are rarely right scores low by stating
low confidences. For each evaluated multi-conf run (its first completion per question, well-formed
answer sets with confidences) this prints the stated set Brier, the hit rate at each rank, and the
set Brier of stating exactly those rates for every question (calibrated on average, no
discrimination between questions): the figure a run beats only by telling its right candidates
from its wrong ones. Two more columns say how far that telling must go: the set Brier of a run
that knows, per question, how many of its candidates are right but not which (each states that
share), and the AUROC of the stated confidences (0.5: they do not tell right from wrong).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from multianswer.core.metrics import auroc, set_brier
from multianswer.evaluation.rundir import load_run


def rank_reference(rows: list[dict]) -> dict:
    """Stated set Brier, hit rate per rank, and the set Brier of stating those rates, over a run's answer sets."""
    sets = [c for row in rows for c in row["completions"][:1] if c["format_ok"] and c["confidences"]]
    if not sets:
        return {"sets": 0, "questions": len(rows)}
    k = len(sets[0]["correct"])
    rates = [statistics.mean(float(c["correct"][i]) for c in sets) for i in range(k)]
    return {
        "sets": len(sets), "questions": len(rows),
        "stated": statistics.mean(set_brier(c["confidences"], c["correct"]) for c in sets),
        "rates": rates, "rate_brier": statistics.mean(set_brier(rates, c["correct"]) for c in sets),
        "mean_stated": [statistics.mean(c["confidences"][i] for c in sets) for i in range(k)],
        "question_brier": statistics.mean(set_brier([sum(c["correct"]) / k] * k, c["correct"]) for c in sets),
        "auroc": auroc([p for c in sets for p in c["confidences"]], [y for c in sets for y in c["correct"]]),
    }


def main(argv: list[str] | None = None) -> int:
    """Print one row per run directory."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="evaluation run directories (multi-conf)")
    args = parser.parse_args(argv)
    print("| run | answer sets | stated set Brier | hit rate by rank | set Brier stating those rates | mean stated by rank "
          "| set Brier stating each question's share right | AUROC |")
    print("|---|---:|---:|---|---:|---|---:|---:|")
    for folder in args.runs:
        r = rank_reference(load_run(Path(folder))[1])
        if not r["sets"]:
            print(f"| {folder} | 0 of {r['questions']} | n/a | n/a | n/a | n/a | n/a | n/a |")
            continue
        print(f"| {folder} | {r['sets']} of {r['questions']} | {r['stated']:.3f} | {', '.join(f'{x:.3f}' for x in r['rates'])} | "
              f"{r['rate_brier']:.3f} | {', '.join(f'{x:.3f}' for x in r['mean_stated'])} | {r['question_brier']:.3f} | {r['auroc']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
