"""Tries at making the demo's multi-rlcr learn its confidences (issue 21, item 3), each from one demo's base model.

    python bench/calibration_tries.py --demo runs/seeds/seed-0 --out runs/calibration \
        --try steps300 rl_steps=300 --try t1 temperature=1.0 [...]

A try is a name and DemoPreset / GRPO overrides (`rl_steps`, `learning_rate`, `num_generations`,
`prompts_per_step`, or any GRPOConfig field such as `temperature`). Each try trains multi-rlcr from
the demo's warmed base (`DEMO/base`; a try that overrides a `warmup_*` field warms up a base of
its own, reported beside it) with the demo's settings plus its overrides, evaluates it on the
held-out world-cases questions as the demo does, and prints, beside the base's stated confidences:
the mean gap between each stated confidence and its candidate's true probability (claim c.gap:
<= 0.10 and <= 0.6x the base's), the ECE over 10 drawn golds per question (c.ece10: <= 0.05),
coverage@3, the mean stated confidences by rank, and the mean confidence sum of the training
rollouts at the first and last logged step. Re-running reuses finished tries and evaluations.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
from pathlib import Path

from multianswer.demo.effect import drawn_golds, known_distributions, stated_gap, stated_sets
from multianswer.demo.pipeline import PRESETS, DemoArgs, add_try_arguments, build_base, preset_with, rl_config
from multianswer.evaluation.claims import drawn_gold_ece
from multianswer.evaluation.rundir import load_run
from multianswer.evaluation.runner import EvalArgs, evaluate

TASK = "world-cases"


def evaluate_run(model: str, fmt: str, out: Path, seed: int, questions: int, max_new_tokens: int) -> Path:
    """The demo's evaluation of `model` on the held-out world-cases questions."""
    evaluate(EvalArgs(model=model, task=TASK, out=str(out), format=fmt, k=3, limit=questions, temperature=0.7,
                      max_new_tokens=max_new_tokens, seed=seed, batch_size=32, bootstrap=200, progress=False))
    return out


@functools.cache
def truth_and_golds(questions: int) -> tuple[dict, dict]:
    """The held-out questions' true distributions and their 10 drawn golds (built once for every run)."""
    known = known_distributions(TASK, questions)
    return {ex.id: ex.metadata["probabilities"] for ex in known}, drawn_golds(known)


def figures(run_dir: Path, questions: int) -> dict:
    """Gap to the truth, drawn-gold ECE, coverage and mean stated confidence by rank of one evaluated run."""
    summary, rows = load_run(run_dir)
    truth, golds = truth_and_golds(questions)
    sets = stated_sets(rows, truth)
    by_rank = [statistics.mean(c[i] for _, c, _ in sets) for i in range(3)] if sets else None
    return {"gap": stated_gap(rows, truth), "ece10": drawn_gold_ece(stated_sets(rows, golds)),
            "coverage": summary.get("coverage"), "stated": by_rank}


def confidence_sums(metrics_file: Path) -> tuple[float, float] | None:
    """The training rollouts' mean confidence sum at the first and the last logged step."""
    steps = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    sums = [s["answer_set/confidence_sum"] for s in steps if "answer_set/confidence_sum" in s]
    return (sums[0], sums[-1]) if sums else None


def main(argv: list[str] | None = None) -> int:
    """Run the tries; print one line per try and write OUT/tries.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_try_arguments(parser, "runs/calibration")
    args = parser.parse_args(argv)
    import torch

    from multianswer.training.trainer import train

    torch.set_num_threads(args.threads)
    demo, out = Path(args.demo), Path(args.out)
    base = demo / "base"
    if not (base / "config.json").is_file():
        print(f"error: {base} holds no model: run `multianswer demo --out {demo}` first", file=sys.stderr)
        return 2
    questions = PRESETS["tiny"].eval_questions
    results = {"base": figures(evaluate_run(str(base), "multi-conf", out / "base" / "eval", args.seed, questions,
                                            PRESETS["tiny"].max_completion_length), questions)}
    for name, *overrides in args.tries:
        preset = preset_with("tiny", overrides)
        folder = out / name
        base = demo / "base"
        if any(item.startswith("warmup_") for item in overrides):  # a warm-up of its own: its own base model
            base = Path(build_base(folder, DemoArgs(out=str(folder), seed=args.seed, progress=False), preset))
            results[f"{name}: base"] = figures(evaluate_run(str(base), "multi-conf", folder / "base-eval", args.seed,
                                                            questions, preset.max_completion_length), questions)
        final = folder / "train" / "multi-rlcr" / "final"
        if not (final / "config.json").is_file():
            train(rl_config(str(base), "multi-rlcr", folder, DemoArgs(out=str(folder), seed=args.seed, progress=False), preset))
        run = evaluate_run(str(final), "multi-conf", folder / "eval", args.seed, questions, preset.max_completion_length)
        results[name] = figures(run, questions) | {"overrides": overrides,
                                                   "confidence_sum_first_last": confidence_sums(final.parent / "metrics.jsonl")}
    print("| try | gap | gap / base's | ECE (10 drawn golds) | coverage@3 | stated by rank | confidence sum first -> last step |")
    print("|---|---:|---:|---:|---:|---|---|")
    for name, r in results.items():
        stated = ", ".join(f"{x:.2f}" for x in r["stated"]) if r["stated"] else "n/a"
        sums = r.get("confidence_sum_first_last")
        base = results.get(f"{name}: base", results["base"])  # a try's own base where it warmed one up
        ratio = "" if name == "base" or name.endswith(": base") else f"{r['gap'] / base['gap']:.2f}"
        print(f"| {name} {' '.join(r.get('overrides', []))} | {r['gap']:.3f} | {ratio} | {r['ece10']:.3f} | "
              f"{r['coverage']:.3f} | {stated} | {f'{sums[0]:.2f} -> {sums[1]:.2f}' if sums else ''} |")
    (out / "tries.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
