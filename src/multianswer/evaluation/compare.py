"""`multianswer compare DIR1 DIR2 ...`: evaluation runs side by side, with their token cost.

The paper's comparison: a multi-answer model's one K-answer generation against a single-answer
model sampled k times. At equal k (k = K) it sets the multi run's coverage beside the single
run's pass@K, and its tokens beside K single samples' tokens (the token ratio; below 1 means the
multi-answer generation is cheaper). Prints a Markdown table; with --out also writes
compare.md and compare.html with a coverage-against-tokens plot of all runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from multianswer.core.errors import UserError
from multianswer.evaluation.report import (
    fmt_value, html_figure, html_page, html_table, metric_rows, plot_coverage_tokens, run_label,
)
from multianswer.evaluation.rundir import load_run


def _is_multi(summary: dict) -> bool:
    return summary["format"].is_multi


def equal_k(summaries: list[dict]) -> int | None:
    """The K that runs are compared at: that of the first multi-answer run (None without one)."""
    return next((int(s["k"]) for s in summaries if _is_multi(s)), None)


def reference_single(summaries: list[dict]) -> dict | None:
    """The single-answer run that multi runs are priced against: the first one."""
    return next((s for s in summaries if not _is_multi(s)), None)


def tokens_for_k(summary: dict, k: int) -> float | None:
    """Generated tokens for k answers: one generation (multi) or k independent samples (single)."""
    tpc = summary.get("tokens_per_completion")
    if tpc is None:
        return None
    return tpc if _is_multi(summary) else k * tpc


def token_ratio(summary: dict, single: dict | None) -> float | None:
    """Tokens of `summary`'s K answers over those of K samples of the `single` run (< 1: cheaper than sampling)."""
    k = int(summary["k"])
    mine, theirs = tokens_for_k(summary, k), tokens_for_k(single, k) if single is not None else None
    return mine / theirs if mine is not None and theirs else None


def cost_rows(summary: dict, k: int | None, single: dict | None) -> dict[str, float | None]:
    """Coverage at equal k, tokens for k answers, and the token ratio against k single samples."""
    if k is None or summary.get("tokens_per_completion") is None:
        return {"coverage_at_k": None, "tokens_for_k": None, "token_ratio": None}
    if _is_multi(summary):
        coverage = summary["coverage"] if int(summary["k"]) == k else None
    else:
        coverage = summary.get(f"pass@{k}")
    ratio = token_ratio(summary, single) if _is_multi(summary) else None
    return {"coverage_at_k": coverage, "tokens_for_k": tokens_for_k(summary, k), "token_ratio": ratio}


def _cell(summary: dict, key: str) -> str:
    value = summary.get(key)
    ci = summary.get(f"{key}_ci")
    if value is None:
        return "—"
    text = fmt_value(value)
    return f"{text} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and isinstance(value, float) and abs(value) < 100 else text


def comparison(dirs: list[str | Path]) -> tuple[list[str], list[tuple[str, list[str]]], list[dict]]:
    """(column names, [(row label, one cell per run)], summaries) for the runs in `dirs`."""
    summaries = [load_run(d)[0] for d in dirs]
    names = [Path(d).resolve().name for d in dirs]
    k, single = equal_k(summaries), reference_single(summaries)
    costs = [cost_rows(s, k, single) for s in summaries]

    rows: list[tuple[str, list[str]]] = [
        ("model", [str(s["model"]) for s in summaries]),
        ("backend", [str(s.get("backend")) for s in summaries]),  # e.g. openai: a served model
        ("format", [s["format"] for s in summaries]),
        ("K candidates / samples", [f"K={s['k']}" if _is_multi(s) else f"{s['samples']} samples" for s in summaries]),
        ("temperature", [str(s.get("temperature")) for s in summaries]),
    ]
    keys: list[tuple[str, str]] = []
    for s in summaries:  # union of metric rows, in table order, so a pass@3 row appears if any run has it
        keys += [kl for kl in metric_rows(s) if kl not in keys]
    order = {key: i for i, key in enumerate(_canonical_order(keys))}
    for key, label in sorted(keys, key=lambda kl: order[kl[0]]):
        rows.append((label, [_cell(s, key) for s in summaries]))
    if k is not None:
        rows += [
            (f"coverage at k={k} (multi: coverage, single: pass@{k})", [fmt_value(c["coverage_at_k"]) for c in costs]),
            (f"generated tokens for k={k} answers", [fmt_value(c["tokens_for_k"]) for c in costs]),
            (f"token ratio: multi / {k} single samples", [fmt_value(c["token_ratio"]) for c in costs]),
        ]
    return names, rows, summaries


def _canonical_order(keys: list[tuple[str, str]]) -> list[str]:
    """Metric keys in report order with pass@i ascending after top-1."""
    passes = sorted((k for k, _ in keys if k.startswith("pass@")), key=lambda k: int(k[5:]))
    out: list[str] = []
    for key, _ in keys:
        if key.startswith("pass@"):
            continue
        out.append(key)
        if key == "top1":
            out += passes
    return out + [p for p in passes if p not in out]


def markdown_table(names: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """Runs as columns, metrics as rows."""
    esc = lambda t: str(t).replace("|", "\\|")  # noqa: E731
    lines = ["| | " + " | ".join(map(esc, names)) + " |", "|---|" + "---:|" * len(names)]
    lines += [f"| {esc(label)} | " + " | ".join(map(esc, cells)) + " |" for label, cells in rows]
    return "\n".join(lines)


NOTE = ("Cells show the value and its bootstrap 95% interval. Token ratio < 1: the multi-answer "
        "generation costs fewer tokens than k independent single-answer samples.")


def write_comparison(dirs: list[str | Path], out: str | Path) -> tuple[Path, Path, str]:
    """Write compare.md, compare.html (with the coverage-against-tokens plot) and return the table."""
    names, rows, summaries = comparison(dirs)
    table = markdown_table(names, rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_coverage_tokens([(f"{n}: {run_label(s)}", s) for n, s in zip(names, summaries)])
    (out / "compare_coverage_tokens.png").write_bytes(png)
    md = out / "compare.md"
    md.write_text(f"# Comparison\n\n{table}\n\n{NOTE}\n\n![coverage against tokens](compare_coverage_tokens.png)\n",
                  encoding="utf-8")
    body = (f"<h1>Comparison</h1>{html_table([''] + names, [[label] + cells for label, cells in rows])}"
            f"<p class=\"meta\">{NOTE}</p>"
            + html_figure("coverage_tokens", "Coverage against generated tokens per question, all runs.", png))
    page = out / "compare.html"
    page.write_text(html_page("Comparison", body), encoding="utf-8")
    return md, page, table


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `multianswer compare`."""
    parser.add_argument("dirs", nargs="+", help="evaluation directories written by `multianswer eval`")
    parser.add_argument("--out", default=None, help="also write compare.md and compare.html (with a plot) here")


def run(args: argparse.Namespace) -> int:
    """Run `multianswer compare`."""
    if len(args.dirs) < 1:
        raise UserError("give at least one evaluation directory")
    if args.out:
        *_, table = write_comparison(args.dirs, args.out)
    else:
        names, rows, _ = comparison(args.dirs)
        table = markdown_table(names, rows)
    print(table)
    print(f"\n{NOTE}")
    return 0
