"""Aggregating an evaluation: a question's scored completions into metrics, and rows into a summary.

A row holds a question's *answer sets*: for multi formats one set per generation (its K
candidates), for single formats one set made of all its sampled answers (so coverage is "any
sample correct" and distinct-correct counts over samples). Per-question metrics are computed
here from the sets with `multianswer.core.metrics`; the summary averages them over questions and
pools the (p, y) pairs for ECE and AUROC. Everything is recomputable from results.jsonl alone.
Completions are scored (parsed and verified) before they get here, by `core.scoring`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

from multianswer.core import metrics
from multianswer.core.formats import AnswerFormat, as_format

JUDGE = "judge"  # the LLM judge's verifier name (registered by the eval runner)


def judge_disagreement(rows: Sequence[dict]) -> tuple[float | None, int]:
    """Fraction of judged candidates where the judge and `match` disagree, and how many were judged."""
    pairs = [(y, m) for r in rows for c in r["completions"] if c.get("match_correct") is not None
             for y, m in zip(c["correct"], c["match_correct"])]
    return (sum(y != m for y, m in pairs) / len(pairs) if pairs else None), len(pairs)


def answer_sets(completions: list[dict], fmt: AnswerFormat) -> list[dict]:
    """The answer sets of a question: one per generation (multi) or all samples pooled (single)."""
    if fmt.is_multi:
        return [
            {k: c[k] for k in ("answers", "confidences", "correct", "matched_gold")} | {"parsed": c["format_ok"]}
            for c in completions
        ]
    ok = [c for c in completions if c["format_ok"]]  # a failed sample adds no candidate (it still counts in n)
    has_p = fmt.has_confidence
    matched = [c["matched_gold"] for c in ok]
    return [{
        "answers": [a for c in ok for a in c["answers"]],
        "confidences": [p for c in ok for p in c["confidences"]] if has_p else None,
        "correct": [y for c in ok for y in c["correct"]],
        "matched_gold": None if any(m is None for m in matched) else [g for m in matched for g in m],
        "parsed": bool(ok),
    }]


def question_metrics(completions: list[dict], tokens: list[int], fmt: AnswerFormat, k: int, n_gold: int) -> dict:
    """Per-question metrics (each a number or None) from its scored completions and their token counts."""
    sets = answer_sets(completions, fmt)
    m: dict[str, Any] = {"format_rate": metrics.mean([1.0 if c["format_ok"] else 0.0 for c in completions])}
    if fmt.is_multi:
        for i in range(1, k + 1):  # candidates ranked by stated confidence, by position without one
            m[f"pass@{i}"] = metrics.mean([metrics.pass_at_i(s["correct"], i, s["confidences"]) for s in sets])
    else:
        n, c = len(completions), sum(1 for x in completions if x["format_ok"] and x["correct"][0])
        for i in range(1, k + 1):  # the unbiased estimator over the n samples
            m[f"pass@{i}"] = metrics.pass_at_k(n, c, i)
    m["top1"] = m["pass@1"]
    m["coverage"] = metrics.mean([metrics.coverage(s["correct"]) for s in sets])
    m["distinct_correct"] = metrics.mean([metrics.distinct_correct(s["answers"], s["correct"]) for s in sets])
    m["diversity"] = metrics.mean([metrics.diversity(s["answers"]) for s in sets])
    recall_ok = n_gold > 1 and all(s["matched_gold"] is not None for s in sets if s["parsed"])
    m["gold_recall"] = (
        metrics.mean([metrics.gold_recall(s["matched_gold"] or [], n_gold) for s in sets]) if recall_ok else None
    )
    if fmt.has_confidence:
        parsed = [s for s in sets if s["parsed"]]  # calibration is only defined where confidences were stated
        m["set_brier"] = metrics.mean([metrics.set_brier(s["confidences"], s["correct"]) for s in parsed]) if parsed else None
        m["confidence_sum"] = metrics.mean([sum(s["confidences"]) for s in parsed]) if parsed else None
    m["tokens"] = float(sum(tokens))
    m["tokens_per_completion"] = metrics.mean([float(t) for t in tokens])
    return {key: _clean(v) for key, v in m.items()}


def _clean(value: Any) -> Any:
    """NaN (an undefined mean) becomes None: JSON has no NaN."""
    return None if isinstance(value, float) and math.isnan(value) else value


def confidence_pairs(rows: Sequence[dict], fmt: AnswerFormat) -> tuple[list[float], list[bool]]:
    """The flattened (p_i, y_i) pairs of all answer sets of all rows."""
    ps: list[float] = []
    ys: list[bool] = []
    for row in rows:
        for s in answer_sets(row["completions"], fmt):
            if s["parsed"] and s["confidences"] is not None:
                ps += s["confidences"]
                ys += s["correct"]
    return ps, ys


# ---------------------------------------------------------------------------- summary

SUMMARY_METRICS = {  # summary key -> per-question metric key (pass@i are added after top1)
    "format_rate": "format_rate", "top1": "top1", "coverage": "coverage",
    "distinct_correct": "distinct_correct", "diversity": "diversity", "gold_recall": "gold_recall",
    "tokens_per_question": "tokens", "tokens_per_completion": "tokens_per_completion",
    "set_brier": "set_brier", "confidence_sum": "confidence_sum",
}


def _percentile_ci(samples: list[float]) -> list[float] | None:
    kept = sorted(s for s in samples if s is not None and not math.isnan(s))
    if not kept:
        return None
    import numpy as np

    lo, hi = np.percentile(kept, [2.5, 97.5])
    return [float(lo), float(hi)]


def bootstrap_draws(n: int, n_bootstrap: int, seed: int):
    """`n_bootstrap` resamples (with replacement) of `n` question indices as an (n_bootstrap, n) array; None if either is 0."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n)) if n and n_bootstrap else None


def mean_ci(values: Sequence[float | None], draws) -> list[float] | None:
    """Percentile 95% interval of the mean of per-question `values` (None skipped) over the resamples `draws`."""
    import numpy as np

    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    if draws is None or np.all(np.isnan(array)):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": a resample of all-None
        boot = np.nanmean(array[draws], axis=1)
    return _percentile_ci(boot.tolist())


def summarize_run(rows: Sequence[dict], run: dict, n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """The summary of an evaluation: `run` (its settings), every metric's mean over questions, bootstrap 95% CIs.

    Rows are put in task order first, so the result does not depend on the order they were
    written in (an interrupted and resumed run summarises like an uninterrupted one).
    """
    rows = sorted(rows, key=lambda r: (r["index"], r["id"]))
    fmt, k = as_format(run["format"]), int(run["k"])
    summary: dict[str, Any] = dict(run) | {"format": fmt}  # an AnswerFormat (a str: it writes as its name)
    summary["n_questions"] = len(rows)
    # completions scored as wrong because their verifier raised (rows written before this field: none)
    summary["verifier_errors"] = sum(1 for r in rows for c in r["completions"] if c.get("verifier_error"))
    summary["bootstrap"] = n_bootstrap
    draws = bootstrap_draws(len(rows), n_bootstrap, seed)  # one resample of the questions, shared by all metrics

    names: dict[str, str] = {}
    for key, metric in SUMMARY_METRICS.items():
        if key in ("set_brier", "confidence_sum") and not fmt.has_confidence:
            continue
        names[key] = metric
        if key == "top1":
            names |= {f"pass@{i}": f"pass@{i}" for i in range(1, k + 1)}
    for key, metric in names.items():
        values = [r["metrics"].get(metric) for r in rows]
        summary[key] = _clean(metrics.mean(values))
        summary[f"{key}_ci"] = mean_ci(values, draws)
    summary["n_gold_sets"] = sum(1 for r in rows if r["metrics"].get("gold_recall") is not None)
    disagreement, n_judged = judge_disagreement(rows)
    if n_judged:
        summary["judge_match_disagreement"], summary["n_judged_candidates"] = disagreement, n_judged

    if fmt.has_confidence:
        pairs = [confidence_pairs([r], fmt) for r in rows]  # per question, so resamples can pool them
        for key, fn in (("ece", metrics.expected_calibration_error), ("auroc", metrics.auroc)):
            summary[key] = _clean(_pooled(fn, pairs, range(len(rows))))
            summary[f"{key}_ci"] = (
                _percentile_ci([_pooled(fn, pairs, d) for d in draws]) if draws is not None else None
            )
        summary["n_confidence_pairs"] = sum(len(p) for p, _ in pairs)
    return summary


def _pooled(fn, pairs: list[tuple[list[float], list[bool]]], chosen) -> float:
    ps = [p for i in chosen for p in pairs[i][0]]
    ys = [y for i in chosen for y in pairs[i][1]]
    return fn(ps, ys) if ps else float("nan")

