"""What RL's budget buys multi-rlvr in the toy world (issue 21, claim a.training), from one demo's base model.

    python bench/rl_budget.py --demo runs/seeds-sumfree/seed-0 --out runs/rl-budget \
        --try steps-100 --try steps-300 rl_steps=300 --try steps-500 rl_steps=500 [...]

A try is a name and DemoPreset / GRPO overrides, as in `bench/calibration_tries.py`. Each try
trains multi-rlvr from the demo's warmed base (`DEMO/base`) with the demo's settings plus its
overrides, evaluates it on the held-out questions of both world kinds as the demo does, and
prints:
- the training rollouts' reward and distinct candidates per answer set, mean of the first fifth
  of the logged steps -> mean of the last fifth;
- per kind: coverage@3, its paired difference with the base's own one 3-answer generation
  (the demo's `base-multi-conf` run, read from DEMO/eval) with the 95% bootstrap interval
  (claim a.training asks it above 0), and the share of answer sets that repeat a candidate
  (claim b.distinct asks <= 5%).
Re-running reuses finished tries. Time it with nothing else running: each try costs ~0.13 s per
GRPO step on this 2-core machine (one thread), so the demo's 5-minute budget is what caps it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from multianswer.core.matching import has_duplicates
from multianswer.demo.pipeline import DemoArgs, add_try_arguments, preset_with, rl_config
from multianswer.evaluation.claims import paired_difference
from multianswer.evaluation.rundir import load_run
from multianswer.evaluation.runner import EvalArgs, evaluate

KINDS = ("world-sets", "world-cases")
METHOD = "multi-rlvr"


def rollout_trend(metrics_file: Path, key: str) -> tuple[float, float]:
    """Mean of `key` over the first fifth and over the last fifth of the logged training steps."""
    steps = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    values = [s[key] for s in steps if key in s]
    n = max(1, len(values) // 5)
    return sum(values[:n]) / n, sum(values[-n:]) / n


def held_out(run_dir: Path, base_dir: Path) -> dict:
    """Coverage@3, the paired gain over the base's 3-answer generation, and the share of repeating sets, of one run."""
    (summary, rows), (_, base_rows) = load_run(run_dir), load_run(base_dir)
    coverage = {r["id"]: r["metrics"].get("coverage") for r in rows}
    gain = paired_difference(coverage, {r["id"]: r["metrics"].get("coverage") for r in base_rows})
    sets = [c["answers"] for r in rows for c in r["completions"] if c["format_ok"]]
    repeats = sum(map(has_duplicates, sets)) / len(sets) if sets else None  # the matching's sameness, as b.distinct
    return {"coverage": summary.get("coverage"), "gain": gain.mean if gain else None,
            "interval": list(gain.interval) if gain and gain.interval else None, "repeats": repeats}


def main(argv: list[str] | None = None) -> int:
    """Run the tries; print one line per try and kind and write OUT/tries.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_try_arguments(parser, "runs/rl-budget")
    args = parser.parse_args(argv)
    demo, out = Path(args.demo), Path(args.out)
    missing = [p for p in [demo / "base" / "config.json"] + [demo / "eval" / k / "base-multi-conf" for k in KINDS]
               if not p.exists()]
    if missing:
        print(f"error: {missing[0]} is missing: run `multianswer demo --out {demo} --seed {args.seed}` first",
              file=sys.stderr)
        return 2
    import torch

    from multianswer.training.trainer import train

    torch.set_num_threads(args.threads)
    results = {}
    print("| try | rollouts' reward | distinct candidates per set | kind | coverage@3 | minus the base's [95% interval] "
          "| sets repeating a candidate |\n|---|---|---|---|---:|---|---:|")
    for name, *overrides in args.tries:
        preset = preset_with("tiny", overrides)
        folder = out / name
        final = folder / "train" / METHOD / "final"
        if not (final / "config.json").is_file():
            train(rl_config(str(demo / "base"), METHOD, folder, DemoArgs(out=str(folder), seed=args.seed, progress=False),
                            preset))
        reward = rollout_trend(final.parent / "metrics.jsonl", "reward")
        distinct = rollout_trend(final.parent / "metrics.jsonl", "answer_set/distinct_candidates")
        results[name] = {"overrides": overrides, "reward": reward, "distinct": distinct}
        for kind in KINDS:
            run = folder / "eval" / kind
            if not (run / "summary.json").is_file():
                evaluate(EvalArgs(model=str(final), task=kind, out=str(run), format="multi", k=3,
                                  limit=preset.eval_questions, temperature=0.7, max_new_tokens=preset.max_completion_length,
                                  seed=args.seed, batch_size=32, bootstrap=200, progress=False))
            r = results[name][kind] = held_out(run, demo / "eval" / kind / "base-multi-conf")
            interval = "[{:+.3f}, {:+.3f}]".format(*r["interval"]) if r["interval"] else ""
            print(f"| {name} {' '.join(overrides)} | {reward[0]:.3f} -> {reward[1]:.3f} | {distinct[0]:.2f} -> "
                  f"{distinct[1]:.2f} | {kind} | {r['coverage']:.3f} | {r['gain']:+.3f} {interval} | {r['repeats']:.2f} |",
                  flush=True)
    (out / "tries.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
