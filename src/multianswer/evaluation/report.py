"""Reports of an evaluation directory: report.md and a self-contained report.html with plots.

Everything is rebuilt from DIR (summary.json + results.jsonl), so a report can be regenerated
at any time with `write_report(DIR)`. Plots are matplotlib (Agg) PNGs, embedded in the HTML as
base64 and written beside the Markdown under DIR/plots/.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from multianswer.core import metrics
from multianswer.evaluation.rundir import RUN_KEYS, load_run
from multianswer.evaluation.summary import confidence_pairs

# (summary key, label) in the order tables show them; pass@i rows are inserted after top-1
TABLE_ROWS = [
    ("n_questions", "questions"), ("format_rate", "format rate"), ("top1", "top-1 accuracy"),
    ("coverage", "coverage (any correct)"), ("distinct_correct", "distinct correct answers"),
    ("diversity", "distinct candidates"), ("gold_recall", "gold-set recall"),
    ("set_brier", "set-level Brier ↓"), ("ece", "ECE ↓"), ("auroc", "AUROC"),
    ("confidence_sum", "Σ confidences"), ("tokens_per_completion", "tokens per completion"),
    ("tokens_per_question", "tokens per question"), ("verifier_errors", "verifier errors (scored as wrong)"),
    ("judge_match_disagreement", "judge vs match: candidates judged differently"),
]


def fmt_value(value: object, digits: int = 3) -> str:
    """A table cell: numbers rounded, None as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.{digits}f}"
    return str(value)


def fmt_ci(ci: Sequence[float] | None) -> str:
    """'[lo, hi]' or an em dash."""
    return "—" if not ci else f"[{fmt_value(ci[0])}, {fmt_value(ci[1])}]"


def metric_rows(summary: dict) -> list[tuple[str, str]]:
    """(summary key, label) of every metric present in `summary`, pass@i included."""
    k = int(summary.get("k") or 0)
    rows = []
    for key, label in TABLE_ROWS:
        rows.append((key, label))
        if key == "top1":
            rows += [(f"pass@{i}", f"pass@{i}") for i in range(1, k + 1)]
    return [(key, label) for key, label in rows if key in summary]


def summary_table(summary: dict) -> str:
    """The summary as a Markdown table: metric, value, 95% bootstrap interval."""
    lines = ["| metric | value | 95% CI |", "|---|---:|---|"]
    for key, label in metric_rows(summary):
        lines.append(f"| {label} | {fmt_value(summary[key])} | {fmt_ci(summary.get(key + '_ci'))} |")
    return "\n".join(lines)


def run_label(summary: dict) -> str:
    """Short name of a run: model, format, k and samples."""
    fmt = summary["format"]
    what = f"K={summary['k']}" if fmt.is_multi else f"{summary['samples']} samples"
    return f"{summary['model']} · {fmt.value} · {what}"


def coverage_curve(summary: dict) -> list[tuple[int, float, float]]:
    """(k, generated tokens, coverage) points: pass@k at k·tokens-per-sample (single), or the K-answer generation (multi)."""
    tpc = summary.get("tokens_per_completion")
    if tpc is None:
        return []
    k = int(summary["k"])
    if summary["format"].is_multi:
        return [(k, tpc, summary["coverage"])]
    return [(i, i * tpc, summary[f"pass@{i}"]) for i in range(1, k + 1)]


# ---------------------------------------------------------------------------- plots

def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _figure(title: str, xlabel: str, ylabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def plot_reliability(confidences: Sequence[float], correct: Sequence[bool]) -> bytes:
    """Reliability diagram: accuracy per confidence bin against the diagonal, bin counts above the bars."""
    fig, ax = _figure("Reliability (per candidate)", "stated confidence", "fraction correct")
    bins = metrics.reliability_bins(confidences, correct)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    filled = [b for b in bins if b["count"]]
    ax.bar([(b["lo"] + b["hi"]) / 2 for b in filled], [b["accuracy"] for b in filled], width=0.09,
           color="#4c72b0", alpha=0.8, label="accuracy in bin")
    ax.scatter([b["confidence"] for b in filled], [b["accuracy"] for b in filled], color="#dd8452", zorder=3,
               s=14, label="mean confidence")
    for b in filled:
        ax.annotate(str(b["count"]), ((b["lo"] + b["hi"]) / 2, b["accuracy"]), ha="center", va="bottom", fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


def plot_coverage_tokens(runs: Sequence[tuple[str, dict]]) -> bytes:
    """Coverage against generated tokens per question for each (label, summary)."""
    fig, ax = _figure("Coverage against generated tokens", "generated tokens per question", "coverage / pass@k")
    for label, summary in runs:
        pts = coverage_curve(summary)
        if not pts:
            continue
        multi = summary["format"].is_multi
        xs, ys = [p[1] for p in pts], [p[2] for p in pts]
        line = ax.plot(xs, ys, marker="*" if multi else "o", ms=11 if multi else 5, ls="" if multi else "-", label=label)[0]
        for k, x, y in pts:
            ax.annotate(f"K={k}" if multi else f"k={k}", (x, y), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=line.get_color())
    xmax = max((p[1] for _, s in runs for p in coverage_curve(s)), default=1.0)
    ax.set_ylim(0, 1.05)
    ax.set_xlim(0, xmax * 1.15 or 1.0)
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def plot_distinct_correct(values: Sequence[float]) -> bytes:
    """Histogram: how many questions got 0, 1, 2, … distinct correct answers."""
    fig, ax = _figure("Distinct correct answers per question", "distinct correct answers", "questions")
    counts = Counter(round(v) for v in values if v is not None)
    xs = list(range(0, max(counts, default=0) + 1))
    ax.bar(xs, [counts.get(x, 0) for x in xs], color="#55a868")
    ax.set_xticks(xs)
    return _png(fig)


def report_plots(summary: dict, rows: Sequence[dict]) -> dict[str, tuple[str, bytes | None]]:
    """name -> (caption, PNG or None with the reason in the caption)."""
    fmt = summary["format"]
    ps, ys = confidence_pairs(rows, fmt) if fmt.has_confidence else ([], [])
    reliability = (
        ("Reliability diagram of the stated confidences (bins of 0.1; numbers are candidates per bin).", plot_reliability(ps, ys))
        if ps else ("No reliability diagram: this format states no confidences.", None)
    )
    return {
        "reliability": reliability,
        "coverage_tokens": (
            "Coverage against generated tokens: pass@k of k samples at k × tokens per sample, "
            "or the one K-answer generation.",
            plot_coverage_tokens([(run_label(summary), summary)]),
        ),
        "distinct_correct": (
            "How many distinct correct answers each question got.",
            plot_distinct_correct([r["metrics"]["distinct_correct"] for r in rows]),
        ),
    }


# ---------------------------------------------------------------------------- examples

def example_rows(rows: Sequence[dict], n: int = 5) -> list[dict]:
    """The first `n` questions as (question, gold, ranked candidates with confidence and correctness)."""
    out = []
    for row in sorted(rows, key=lambda r: r["index"])[:n]:
        question = next((m["content"] for m in row["prompt"] if m["role"] == "user"), "")
        comp = row["completions"][0]
        order = metrics.order_by_confidence(comp["confidences"], len(comp["answers"]))
        cands = [(comp["answers"][i], comp["confidences"][i] if comp["confidences"] else None, comp["correct"][i]) for i in order]
        out.append({"id": row["id"], "question": question, "gold": row["gold"], "candidates": cands,
                    "reason": comp["reason"], "n_completions": len(row["completions"])})
    return out


def format_failures(rows: Sequence[dict]) -> str:
    """One line: how many completions broke the format, and why (most common reason first)."""
    reasons = Counter(c["reason"] for r in rows for c in r["completions"] if not c["format_ok"])
    total = sum(len(r["completions"]) for r in rows)
    if not reasons:
        return f"All {total} completions follow the format."
    why = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
    return f"{sum(reasons.values())} of {total} completions break the format ({why})."


def _candidate_text(cands: list) -> str:
    return "; ".join(f"{'✓' if y else '✗'} {a}" + (f" ({p:g})" if p is not None else "") for a, p, y in cands)


# ---------------------------------------------------------------------------- writers

def _header(summary: dict) -> list[tuple[str, str]]:
    return [(k, "—" if summary.get(k) is None else str(summary[k])) for k in RUN_KEYS]


def render_markdown(summary: dict, rows: Sequence[dict], plots: dict) -> str:
    """report.md: settings, metrics table, plots (as files under plots/) and a few examples."""
    lines = [f"# Evaluation: {run_label(summary)}", ""]
    lines += [" · ".join(f"**{k}** {v}" for k, v in _header(summary)), "", summary_table(summary), ""]
    lines += [format_failures(rows), ""]
    for name, (caption, png) in plots.items():
        lines += [f"![{name}](plots/{name}.png)", "", f"*{caption}*", ""] if png else [f"*{caption}*", ""]
    lines += ["## Examples", "", "| question | gold | candidates (ranked) |", "|---|---|---|"]
    for ex in example_rows(rows):
        q = " ".join(ex["question"].split())[:160].replace("|", "\\|")
        cands = _candidate_text(ex["candidates"]) or f"(format failed: {ex['reason']})"
        lines.append(f"| {q} | {str(ex['gold'])[:80].replace('|', '/')} | {cands.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


HTML_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;font-size:.9em}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:520px}figcaption{font-size:.85em;color:#555}
img{max-width:100%}.meta{color:#555;font-size:.9em}
"""


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """An HTML table of text cells (columns from `numeric_from` on are right-aligned)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f"<td class=\"num\">{html.escape(c)}</td>" if j >= numeric_from else f"<td>{html.escape(c)}</td>"
            for j, c in enumerate(r)
        ) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_page(title: str, body: str) -> str:
    """A standalone HTML page."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{HTML_STYLE}</style></head><body>\n{body}\n</body></html>\n")


def html_figure(name: str, caption: str, png: bytes | None) -> str:
    """A <figure> with the PNG inlined as base64 (or only the caption when there is no plot)."""
    if png is None:
        return f"<p class=\"meta\">{html.escape(caption)}</p>"
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure><img class=\"plot\" alt=\"{html.escape(name)}\" src=\"data:image/png;base64,{data}\">"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def render_html(summary: dict, rows: Sequence[dict], plots: dict) -> str:
    """report.html: the same content as report.md, with the plots embedded."""
    title = f"Evaluation: {run_label(summary)}"
    meta = " · ".join(f"<b>{html.escape(k)}</b> {html.escape(v)}" for k, v in _header(summary))
    cells = [(label, fmt_value(summary[key]), fmt_ci(summary.get(key + "_ci"))) for key, label in metric_rows(summary)]
    table = html_table(["metric", "value", "95% CI"], cells)
    figures = "".join(html_figure(name, caption, png) for name, (caption, png) in plots.items())
    examples = html_table(["question", "gold", "candidates (ranked)"], [
        (ex["question"], str(ex["gold"]), _candidate_text(ex["candidates"]) or f"(format failed: {ex['reason']})")
        for ex in example_rows(rows)
    ], numeric_from=99)
    failures = f"<p>{html.escape(format_failures(rows))}</p>"
    body = (f"<h1>{html.escape(title)}</h1><p class=\"meta\">{meta}</p>{table}{failures}<div>{figures}</div>"
            f"<h2>Examples</h2>{examples}")
    return html_page(title, body)


def write_report(out: str | Path, summary: dict | None = None, rows: Sequence[dict] | None = None) -> tuple[Path, Path]:
    """Write DIR/report.md, DIR/report.html and DIR/plots/*.png (from DIR's summary and rows unless given)."""
    out = Path(out)
    if summary is None or rows is None:
        summary, rows = load_run(out)
    plots = report_plots(summary, rows)
    (out / "plots").mkdir(exist_ok=True)
    for name, (_, png) in plots.items():
        if png is not None:
            (out / "plots" / f"{name}.png").write_bytes(png)
    md, page = out / "report.md", out / "report.html"
    md.write_text(render_markdown(summary, rows, plots), encoding="utf-8")
    page.write_text(render_html(summary, rows, plots), encoding="utf-8")
    return md, page
