"""Run the full demo and check the paper's effect on its results (prints; never tunes anything).

    python bench/demo_effect.py [--out DIR] [--model tiny|smollm2] [--reuse]

Checks, per kind of held-out question:
  1. multi-rlvr coverage with one K-answer generation >= rlvr pass@K with k = K samples
  2. ... at fewer generated tokens per question
  3. multi-rlcr ECE below the base model's stated confidences (an uncalibrated reference)
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from multianswer.demo.pipeline import EVAL_TASKS, DemoArgs, run_demo
from multianswer.evaluation.rundir import load_run


def checks(out: Path, k: int) -> list[tuple[str, str, float | None, float | None, bool | None]]:
    """(task, claim, ours, reference, holds) for every check; holds is None when a value is missing."""
    rows = []
    for task in EVAL_TASKS:
        runs = {d.name: load_run(d)[0] for d in (out / "eval" / task).iterdir()}
        single, multi, rlcr, base = runs[f"rlvr-{k}-samples"], runs["multi-rlvr"], runs["multi-rlcr"], runs["base-multi-conf"]
        for claim, ours, ref, better in (
            (f"multi-rlvr coverage >= rlvr pass@{k}", multi.get("coverage"), single.get(f"pass@{k}"), lambda a, b: a >= b),
            ("multi-rlvr tokens/question < rlvr", multi.get("tokens_per_question"), single.get("tokens_per_question"), lambda a, b: a < b),
            ("multi-rlcr ECE < base ECE", rlcr.get("ece"), base.get("ece"), lambda a, b: a < b),
        ):
            rows.append((task, claim, ours, ref, None if ours is None or ref is None else better(ours, ref)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/demo-bench")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="check an existing demo folder without re-running it")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.reuse:
        shutil.rmtree(out, ignore_errors=True)
        start = time.monotonic()
        run_demo(DemoArgs(out=str(out), model=args.model, k=args.k, progress=False))
        print(f"\nwall time: {time.monotonic() - start:.0f} s")
    print(f"\n| task | claim | ours | reference | holds |\n|---|---|---:|---:|---|")
    for task, claim, ours, ref, holds in checks(out, args.k):
        fmt = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
        print(f"| {task} | {claim} | {fmt(ours)} | {fmt(ref)} | {'n/a' if holds is None else 'yes' if holds else 'NO'} |")


if __name__ == "__main__":
    main()
