"""The paper's comparison on a real LM: base, rlvr (k = K samples), multi-rlvr, multi-rlcr.

    python bench/real_lm.py --config configs/smollm2-effect.yaml [--config ...] --out runs/real-lm \
        [--eval-limit N] [key=value ...]

For each config (one task each; a `multianswer train` YAML file):
  1. base      the config's model after the format warm-up alone, merged and saved, once per format
               the base is asked in: `base` (the multi-conf warm-up that multi-rlcr starts from) and
               `base-single` (the single-answer warm-up that rlvr starts from, for its K samples):
               the reference every method starts near
  2. train     rlvr, multi-rlvr and multi-rlcr with the config's GRPO settings and steps
  3. eval      the task's held-out split: base sampled k = K times and asked once for K answers with
               confidences, rlvr sampled k = K times, multi-rlvr and multi-rlcr (one K-answer
               generation each): the five runs of the demo's claims (evaluation/claims.run_names)
  4. compare   one table per task, printed and written to OUT/TASK/table.md, and the claims of the
               demo's claims module (with paired bootstrap intervals where a claim compares two runs
               question by question) in OUT/TASK/claims.json and claims.md

`--seed S` sets the run's seed (warm-up, GRPO, evaluation sampling) and writes under OUT/TASK/seed-S.
Every stage resumes: a finished model or evaluation is reused, a killed training run goes on
from its last checkpoint, a killed evaluation from its last scored question. key=value
overrides apply to every config (e.g. max_steps=4 format_warmup_steps=2 for a smoke run).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from multianswer.core.errors import UserError
from multianswer.demo.effect import runs_claims
from multianswer.evaluation.claims import claims_json, claims_table, run_names
from multianswer.evaluation.compare import cost_rows, reference_single
from multianswer.evaluation.rundir import load_run
from multianswer.evaluation.runner import EvalArgs, evaluate
from multianswer.training.config import TrainConfig, load_config
from multianswer.training.trainer import last_complete_checkpoint, save_warmed_base, train

METHODS = ("rlvr", "multi-rlvr", "multi-rlcr")
BASE, BASE_SINGLE = "base", "base-single"
# each base model: the method whose format warm-up it is (the base is asked in that method's format)
BASES = {BASE: "multi-rlcr", BASE_SINGLE: "rlvr"}
# the table's columns: (summary or cost key, header)
COLUMNS = (
    ("coverage_at_k", "coverage@K / pass@K"), ("distinct_correct", "distinct correct"), ("diversity", "distinct answers"),
    ("top1", "top-1"), ("set_brier", "set Brier"), ("ece", "ECE"), ("tokens_per_question", "tokens/question"),
    ("token_ratio", "token ratio"), ("format_rate", "format"),
)


def eval_plan(k: int) -> list[tuple[str, str, str]]:
    """(run name, model name, format) of each evaluation, in table order: the claims' five runs."""
    names = run_names(k)
    return [
        (names["base"], BASE_SINGLE, "single"),
        (names["base_conf"], BASE, "multi-conf"),
        (names["rlvr"], "rlvr", "single"),
        (names["multi_rlvr"], "multi-rlvr", "multi"),
        (names["multi_rlcr"], "multi-rlcr", "multi-conf"),
    ]


def method_config(cfg: TrainConfig, method: str, out: Path) -> TrainConfig:
    """The config's training settings for one method, writing under out/train/METHOD."""
    grpo = dict(cfg.grpo, output_dir=str(out / "train" / method))
    return dataclasses.replace(cfg, method=dataclasses.replace(cfg.method, method=method), grpo=grpo)


def train_all(cfg: TrainConfig, out: Path, log) -> dict[str, str]:
    """Model directory of the base and of each method, training what is not finished yet."""
    models = {}
    for base, method in BASES.items():
        models[base] = str(out / base)
        if not (out / base / "config.json").is_file():
            start = time.monotonic()
            save_warmed_base(method_config(cfg, method, out), out / base)
            log(f"{base}: {method}'s format warm-up, {cfg.warmup.format_warmup_steps} steps, in {time.monotonic() - start:.0f} s")
    for method in METHODS:
        mcfg = method_config(cfg, method, out)
        final = Path(mcfg.grpo["output_dir"]) / "final"
        if not (final / "config.json").is_file():
            start = time.monotonic()
            resume = last_complete_checkpoint(final.parent) is not None
            result = train(mcfg, resume=resume)
            s = result.summary()
            log(f"{method}: {result.global_step} steps{' (resumed)' if resume else ''} in {time.monotonic() - start:.0f} s; "
                f"reward first 10 {_fmt(s.get('reward_first10'))} -> last 10 {_fmt(s.get('reward_last10'))}; "
                f"{_fmt(s.get('seconds_per_step'))} s/step")
        models[method] = str(final)
    return models


def eval_all(cfg: TrainConfig, models: dict[str, str], out: Path, limit: int | None, batch_size: int, log) -> list[Path]:
    """Evaluate every planned run on the task's held-out split; their directories."""
    k, g = cfg.method.k, cfg.grpo_kwargs()
    dirs = []
    for name, model, fmt in eval_plan(k):
        start = time.monotonic()
        summary = evaluate(EvalArgs(
            model=models[model], task=cfg.data.task, out=str(out / "eval" / name), format=fmt, k=k, split="test",
            limit=limit, temperature=g["temperature"], top_p=g["top_p"], max_new_tokens=g["max_completion_length"],
            seed=g.get("seed", 0), batch_size=batch_size, bootstrap=1000, progress=False,
            prompt_style=cfg.method.prompt_style, require_analysis=cfg.method.require_analysis,
            strict_confidence=cfg.method.strict_confidence,  # prompted and parsed as in training
        ))
        log(f"eval {name}: {summary['n_questions']} questions in {time.monotonic() - start:.0f} s")
        dirs.append(out / "eval" / name)
    return dirs


def table(run_dirs: list[Path]) -> str:
    """Markdown table of the runs: coverage at equal k, diversity, calibration, token cost, format."""
    summaries = [load_run(d)[0] for d in run_dirs]
    k = int(summaries[-1]["k"])
    # the claims price multi runs against rlvr's K samples (else the first single run)
    rlvr = [s for d, s in zip(run_dirs, summaries) if d.name == run_names(k)["rlvr"]]
    single = reference_single(rlvr or summaries)
    lines = ["| run | " + " | ".join(h for _, h in COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for d, s in zip(run_dirs, summaries):
        values = s | cost_rows(s, k, single)
        if s is single:
            values["token_ratio"] = 1.0  # the reference the others are priced against
        lines.append(f"| {d.name} | " + " | ".join(_fmt(values.get(key)) for key, _ in COLUMNS) + " |")
    n = summaries[0]["n_questions"]
    return "\n".join(lines) + f"\n\n{n} held-out questions, K = {k}; token ratio: tokens per question / rlvr's {k} samples."


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def write_claims(task: str, k: int, out: Path, limit: int | None) -> str:
    """The claims of the five evaluated runs, written to out/claims.json and out/claims.md; their table."""
    claims = runs_claims(task, {role: out / "eval" / name for role, name in run_names(k).items()}, k, limit)
    (out / "claims.json").write_text(json.dumps(claims_json(claims, k), indent=2) + "\n")
    text = claims_table(claims)
    (out / "claims.md").write_text(f"## {task}\n\n{text}\n")
    return text


def run_config(path: str, overrides: list[str], root: Path, limit: int | None, batch_size: int,
               seed: int | None = None) -> str:
    """Train, evaluate and compare one config; its table and claims."""
    cfg = load_config(path, overrides + ([f"seed={seed}"] if seed is not None else []))
    if cfg.method.k < 2:
        raise UserError(f"{path}: k must be at least 2 to compare K answers with k samples, got {cfg.method.k}")
    out = root / cfg.data.task.replace(":", "_").replace("/", "_")
    if seed is not None:
        out = out / f"seed-{seed}"
    out.mkdir(parents=True, exist_ok=True)
    logfile = open(out / "bench.log", "a", encoding="utf-8")

    def log(line: str) -> None:
        stamped = f"[{time.strftime('%H:%M:%S')}] {cfg.data.task}: {line}"
        print(stamped, flush=True)
        logfile.write(stamped + "\n")
        logfile.flush()

    log(f"config {path} {' '.join(overrides)}; {cfg.grpo_kwargs().get('max_steps')} GRPO steps per method")
    cfg.dump(out / "config.yaml")
    models = train_all(cfg, out, log)
    dirs = eval_all(cfg, models, out, limit, batch_size, log)
    text = table(dirs)
    (out / "table.md").write_text(f"## {cfg.data.task}\n\n{text}\n")
    claims = write_claims(cfg.data.task, cfg.method.k, out, limit)
    log("done")
    logfile.close()
    return f"{text}\n\n{claims}"


def main(argv: list[str] | None = None) -> int:
    """Run the bench; the exit code (2 for a user mistake)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", required=True, help="a `multianswer train` YAML file (one task); repeatable")
    parser.add_argument("--out", default="runs/real-lm", help="folder for models, evaluations and tables (re-running resumes)")
    parser.add_argument("--eval-limit", type=int, default=None, help="held-out questions per task (default: the whole test split)")
    parser.add_argument("--eval-batch-size", type=int, default=16, help="sequences per generate call in evaluation")
    parser.add_argument("--seed", type=int, default=None, help="seed of warm-up, GRPO and evaluation; writes under OUT/TASK/seed-S")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config override applied to every config")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    start = time.monotonic()
    try:
        tables = {path: run_config(path, args.overrides, Path(args.out), args.eval_limit, args.eval_batch_size, args.seed)
                  for path in args.config}
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path, text in tables.items():
        print(f"\n{path}\n\n{text}")
    record = Path(args.out) / "bench.json"  # one entry per invocation: a resumed run's wall time is their sum
    sessions = json.loads(record.read_text())["sessions"] if record.exists() else []
    sessions.append({"argv": argv if argv is not None else sys.argv[1:], "seconds": round(time.monotonic() - start),
                     "ended": time.strftime("%Y-%m-%d %H:%M:%S")})
    record.write_text(json.dumps({"sessions": sessions, "seconds": sum(s["seconds"] for s in sessions)}, indent=2) + "\n")
    print(f"\nwall time: {sessions[-1]['seconds']} s (all sessions: {sum(s['seconds'] for s in sessions)} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
