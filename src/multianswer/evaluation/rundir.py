"""An evaluation's run directory: its files, the settings that identify it, and reading it back.

    DIR/run.json        the run's settings (a re-run must match them to resume) and its backends
    DIR/results.jsonl   one row per question, appended (and flushed) as soon as it is scored
    DIR/summary.json    every metric with bootstrap 95% intervals (`evaluation.summary`)
    DIR/report.md|html  plots and tables (`evaluation.report`)

The runner writes a directory; report, compare and the demo read it through `load_run`. In a
summary read here or made by `summarize_run`, "format" is an AnswerFormat, resolved once.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from multianswer.core.errors import UserError
from multianswer.core.formats import as_format
from multianswer.evaluation.summary import summarize_run
from multianswer.tasks.sources import jsonl_objects

RESULTS, SUMMARY, RUN, JUDGE_CACHE = "results.jsonl", "summary.json", "run.json", "judge_cache.jsonl"
# settings that change what is generated: a resumed run must agree on all of them
IDENTITY = ("model", "task", "split", "format", "k", "samples", "temperature", "top_p", "max_new_tokens", "seed",
            "verifier", "judge_model", "require_analysis", "strict_confidence", "prompt_style")
# what a key that an older run.json lacks was then; any other missing key was off (None, or False for the parser rules)
BEFORE_KEY = {"prompt_style": "paper"}
# what a summary and a report say about the run: its identity and the backends that generated it
RUN_KEYS = IDENTITY + ("backend",)


def read_rows(path: Path, repair: bool = False) -> list[dict]:
    """Rows of results.jsonl without a torn last line; `repair` (the writer only) also cuts it off the file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete, newline, torn = data.rpartition(b"\n")
    if torn and repair:  # rows are written whole with their newline: only an unfinished write lacks one
        with open(path, "r+b") as f:
            f.truncate(len(complete) + len(newline))
    lines = complete.decode("utf-8", "replace").split("\n") if newline else []
    return [row for _, row in jsonl_objects(lines, path)]


def start_or_check(out: Path, settings: dict) -> None:
    """Write run.json, or check that the run already in `out` has the same settings."""
    path = out / RUN
    if path.exists():
        old = json.loads(path.read_text())
        before = old.get("settings", {})
        diff = [k for k in IDENTITY if _changed(before, k, settings[k])]
        if diff:
            changes = ", ".join(f"{k}: {old['settings'].get(k)!r} -> {settings[k]!r}" for k in diff)
            raise UserError(f"{out} holds a run with other settings ({changes}); use another --out")
        return
    path.write_text(json.dumps({"settings": settings, "started": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2) + "\n")


def _changed(before: dict, key: str, now: object) -> bool:
    """Whether setting `key` differs from the run.json `before` (which may predate the key)."""
    if key in before:
        return before[key] != now
    return now != BEFORE_KEY[key] if key in BEFORE_KEY else bool(now)


def record(out: Path, backend: str | None, n_bootstrap: int) -> None:
    """Note in run.json the backends that generated (each once) and the bootstrap size of the summary."""
    path = out / RUN
    info = json.loads(path.read_text())
    backends = info.setdefault("backends", [])
    if backend is not None and backend not in backends:
        backends.append(backend)
    info["bootstrap"] = n_bootstrap
    path.write_text(json.dumps(info, indent=2) + "\n")


def run_meta(out: Path, settings: dict) -> dict:
    """The RUN_KEYS of the run in `out`: its settings and the backends that generated it ('hf+vllm' after a mixed resume)."""
    backends = json.loads((out / RUN).read_text()).get("backends", [])
    meta = settings | {"backend": "+".join(backends) or None}
    return {key: meta.get(key) for key in RUN_KEYS}


def load_run(out: str | os.PathLike) -> tuple[dict, list[dict]]:
    """summary.json (recomputed from the rows when missing) and the rows of a finished run directory."""
    out = Path(out)
    if not (out / RESULTS).exists():
        raise UserError(f"{out} has no {RESULTS}: not an evaluation directory")
    rows = read_rows(out / RESULTS)
    if (out / SUMMARY).exists():
        summary = json.loads((out / SUMMARY).read_text())
        return summary | {"format": as_format(summary["format"])}, rows  # resolved once, here
    info = json.loads((out / RUN).read_text())
    summary = summarize_run(rows, run_meta(out, info["settings"]), info.get("bootstrap", 1000), info["settings"]["seed"])
    return summary, rows
