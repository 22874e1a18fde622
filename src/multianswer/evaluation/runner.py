"""`multianswer eval`: generate, parse, verify and score a model on a task; write rows, summary, report.

    DIR/run.json        the run's settings (a re-run must match them to resume)
    DIR/results.jsonl   one row per question, appended (and flushed) as soon as it is scored
    DIR/summary.json    every metric of SPEC §6 with bootstrap 95% intervals
    DIR/report.md|html  plots and tables (multianswer.evaluation.report)

Multi formats: `samples` generations (default 1) of K candidates each. Single formats: `samples`
(default k) independent answers per question, scored with the unbiased pass@k' for k' ≤ k.
A re-run skips the questions already in results.jsonl; samples are seeded per question, so a
resumed run ends with the same rows and summary as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multianswer.core.errors import UserError
from multianswer.core.formats import FORMAT_NAMES, as_format
from multianswer.core.outputs import check_output_dir
from multianswer.evaluation.summary import question_metrics, score_completions, summarize

RESULTS, SUMMARY, RUN = "results.jsonl", "summary.json", "run.json"
# settings that change what is generated: a resumed run must agree on all of them
IDENTITY = ("model", "task", "split", "format", "k", "samples", "temperature", "top_p", "max_new_tokens", "seed")


@dataclass
class EvalArgs:
    """One evaluation run (the CLI options have the same names)."""

    model: str
    task: str
    out: str
    format: str = "multi-conf"
    k: int = 3  # candidates per generation (multi) or samples scored with pass@k (single)
    samples: int | None = None  # generations per question: default 1 (multi) or k (single)
    temperature: float = 0.7
    top_p: float = 1.0
    split: str = "test"
    limit: int | None = None
    batch_size: int = 16
    max_new_tokens: int = 512
    seed: int = 0
    backend: str = "auto"
    dtype: str | None = None
    device: str | None = None
    bootstrap: int = 1000
    report: bool = True
    progress: bool = True

    def resolved_samples(self) -> int:
        """Generations per question after defaults, checked against the format."""
        fmt = as_format(self.format)
        n = self.samples if self.samples is not None else (1 if fmt.is_multi else self.k)
        if n < 1:
            raise UserError(f"--samples must be at least 1, got {n}")
        if not fmt.is_multi and n < self.k:
            raise UserError(f"single-answer pass@{self.k} needs at least {self.k} samples, got --samples {n}")
        return n

    def check(self) -> None:
        """Raise UserError for settings that cannot run."""
        try:
            as_format(self.format)
        except ValueError as err:
            raise UserError(str(err)) from None
        if self.k < 1:
            raise UserError(f"--k must be at least 1, got {self.k}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise UserError(f"need --temperature >= 0 and 0 < --top-p <= 1, got {self.temperature} and {self.top_p}")
        if self.max_new_tokens < 1 or self.batch_size < 1 or self.bootstrap < 0:
            raise UserError("--max-new-tokens and --batch-size must be at least 1, --bootstrap at least 0")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be at least 1, got {self.limit}")
        self.resolved_samples()


def run_settings(args: EvalArgs) -> dict:
    """The settings written to run.json (model given as a name; samples resolved)."""
    settings = {key: getattr(args, key) for key in IDENTITY}
    settings["format"] = as_format(args.format).value
    settings["samples"] = args.resolved_samples()
    settings["model"] = args.model if isinstance(args.model, str) else type(args.model).__name__
    return settings


# ---------------------------------------------------------------------------- results file

def read_rows(path: Path, repair: bool = False) -> list[dict]:
    """Rows of results.jsonl without a torn last line; `repair` (the writer only) also cuts it off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete, newline, torn = data.rpartition(b"\n")
    if torn and repair:  # rows are written whole with their newline: only an unfinished write lacks one
        with open(path, "r+b") as f:
            f.truncate(len(complete) + len(newline))
    rows = []
    for n, line in enumerate(complete.split(b"\n") if newline else [], 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise UserError(f"{path}:{n}: not valid JSON; fix or remove the line to resume") from None
    return rows


def _check_resume(out: Path, settings: dict) -> None:
    """Write run.json, or check that the run already in `out` has the same settings."""
    path = out / RUN
    if path.exists():
        old = json.loads(path.read_text())
        diff = [k for k in IDENTITY if old.get("settings", {}).get(k) != settings[k]]
        if diff:
            changes = ", ".join(f"{k}: {old['settings'].get(k)!r} -> {settings[k]!r}" for k in diff)
            raise UserError(f"{out} holds a run with other settings ({changes}); use another --out")
        return
    path.write_text(json.dumps({"settings": settings, "started": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2) + "\n")


# ---------------------------------------------------------------------------- the run

def evaluate(args: EvalArgs, backend: Any = None) -> dict:
    """Run (or resume) an evaluation and return its summary; `backend` overrides loading args.model."""
    from multianswer.generation.backends import SamplingArgs, derive_seed, make_backend
    from multianswer.models.context import check_fits_context
    from multianswer.tasks import get_task, prompt_messages

    args.check()
    fmt, n = as_format(args.format), args.resolved_samples()
    k_prompt = args.k if fmt.is_multi else 1
    check_output_dir(args.out, "--out")
    task = get_task(args.task)
    examples = task.examples(args.split, args.limit)
    if not examples:
        raise UserError(f"task {args.task!r} split {args.split!r} has no examples")
    ids = [ex.id for ex in examples]
    if len(set(ids)) != len(ids):
        raise UserError(f"task {args.task!r} has duplicate example ids; results are keyed by id")

    out = Path(args.out)
    if backend is None:  # a model to load: its questions left to do must fit its context
        done_before = {row["id"] for row in read_rows(out / RESULTS)}
        check_fits_context(args.model, task, [ex for ex in examples if ex.id not in done_before], fmt, args.k,
                           args.max_new_tokens, k_option="--k", completion_option="--max-new-tokens")
    out.mkdir(parents=True, exist_ok=True)
    settings = run_settings(args)
    _check_resume(out, settings)
    done = {row["id"] for row in read_rows(out / RESULTS, repair=True)}
    pending = [(i, ex) for i, ex in enumerate(examples) if ex.id not in done]
    backend_name = None
    if pending:
        gen = make_backend(backend if backend is not None else args.model, args.backend, args.batch_size,
                           args.dtype, args.device, args.progress)
        backend_name = getattr(gen, "name", type(gen).__name__)
        prompts = [prompt_messages(ex, task, fmt, k_prompt) for _, ex in pending]
        seeds = [derive_seed(args.seed, ex.id) for _, ex in pending]
        sampling = SamplingArgs(n, args.temperature, args.top_p, args.max_new_tokens)
        with open(out / RESULTS, "a", encoding="utf-8") as f:
            for j, completions in gen.stream(prompts, sampling, seeds):
                index, ex = pending[j]
                row = result_row(index, ex, prompts[j], completions, fmt, args.k, seeds[j])
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()  # a killed run keeps every finished question
    _record(out, backend_name, args.bootstrap)
    wanted = set(ids)
    rows = [r for r in read_rows(out / RESULTS) if r["id"] in wanted]
    summary = summarize(rows, _run_meta(out, settings), args.bootstrap, args.seed)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    if args.report:
        from multianswer.evaluation.report import write_report

        write_report(out, summary, rows)
    return summary


def result_row(index: int, ex: Any, prompt: list[dict], completions: list, fmt: Any, k: int, seed: int) -> dict:
    """The results.jsonl row of one question: prompt, raw completions, parsed candidates, scores, tokens."""
    scored = score_completions([c.text for c in completions], fmt, k, ex.answers, ex.verifier)
    tokens = [c.n_tokens for c in completions]
    return {
        "index": index, "id": ex.id, "seed": seed, "prompt": prompt,
        "gold": ex.answers, "verifier": ex.verifier,
        "completions": [{"text": c.text, "n_tokens": c.n_tokens, **s} for c, s in zip(completions, scored)],
        "tokens": sum(tokens),
        "metrics": question_metrics(scored, tokens, fmt, k, len(ex.answers)),
    }


def _record(out: Path, backend: str | None, n_bootstrap: int) -> None:
    """Note in run.json the backends that generated (each once) and the bootstrap size of the summary."""
    path = out / RUN
    info = json.loads(path.read_text())
    backends = info.setdefault("backends", [])
    if backend is not None and backend not in backends:
        backends.append(backend)
    info["bootstrap"] = n_bootstrap
    path.write_text(json.dumps(info, indent=2) + "\n")


def _run_meta(out: Path, settings: dict) -> dict:
    backends = json.loads((out / RUN).read_text()).get("backends", [])
    return settings | {"backend": "+".join(backends) or None}


def load_run(out: str | os.PathLike) -> tuple[dict, list[dict]]:
    """summary.json (recomputed from the rows when missing) and the rows of a finished run directory."""
    out = Path(out)
    if not (out / RESULTS).exists():
        raise UserError(f"{out} has no {RESULTS}: not an evaluation directory")
    rows = read_rows(out / RESULTS)
    if (out / SUMMARY).exists():
        return json.loads((out / SUMMARY).read_text()), rows
    info = json.loads((out / RUN).read_text())
    return summarize(rows, _run_meta(out, info["settings"]), info.get("bootstrap", 1000), info["settings"]["seed"]), rows


# ---------------------------------------------------------------------------- CLI

def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `multianswer eval`."""
    parser.add_argument("--model", required=True, help="hub id, local directory, 'smollm2' or 'tiny'")
    parser.add_argument("--task", required=True, help="task name (see `multianswer tasks`), jsonl:PATH or hf:NAME")
    parser.add_argument("--out", required=True, help="output directory (re-running with it resumes the run)")
    parser.add_argument("--format", default="multi-conf", choices=FORMAT_NAMES, help="answer format to prompt and parse")
    parser.add_argument("--k", type=int, default=3, help="candidates per generation (multi) or k of pass@k (single)")
    parser.add_argument("--samples", type=int, default=None, help="generations per question (default 1 for multi, k for single)")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature; 0 is greedy")
    parser.add_argument("--top-p", dest="top_p", type=float, default=1.0, help="nucleus sampling mass")
    parser.add_argument("--split", default="test", help="task split to evaluate")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=16,
                        help="sequences (prompts × samples) per generate call (transformers)")
    parser.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=512,
                        help="generated tokens per completion at most")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling (per question) and of the bootstrap")
    parser.add_argument("--backend", default="auto", choices=("auto", "hf", "vllm"),
                        help="generation backend (auto: vLLM on GPU when installed)")
    parser.add_argument("--dtype", default=None, help="model dtype: auto, fp32, bf16, fp16")
    parser.add_argument("--device", default=None, help="device for transformers (default: cuda when present)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    parser.add_argument("--report", action=argparse.BooleanOptionalAction, default=True, help="write report.md and report.html")


def run(args: argparse.Namespace) -> int:
    """Run `multianswer eval`."""
    fields = {f for f in EvalArgs.__dataclass_fields__} - {"progress"}
    summary = evaluate(EvalArgs(**{k: v for k, v in vars(args).items() if k in fields}))
    from multianswer.evaluation.report import summary_table

    print(summary_table(summary))
    print(f"\nwrote {Path(args.out) / RESULTS}, {SUMMARY}" + (", report.md, report.html" if args.report else ""), file=sys.stderr)
    return 0

