"""Metrics over plain lists, shared by evaluation reports and training logs (no torch here).

Per question: candidates in written order, their confidences (or None), and their
correctness. Calibration metrics take the flattened (p_i, y_i) pairs of all questions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from multianswer.core.matching import distinct_count


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct: 1 − C(n−c, k)/C(n, k), stable form."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got n={n}")
    if n - c < k:
        return 1.0
    # C(n−c, k)/C(n, k) = Π_{i=n−c+1}^{n} (1 − k/i): a product of numbers in (0, 1], no huge binomials
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def order_by_confidence(confidences: Sequence[float] | None, n: int) -> list[int]:
    """Candidate indices, most confident first (stable); written order when there are no confidences."""
    if confidences is None:
        return list(range(n))
    return sorted(range(n), key=lambda i: -confidences[i])


def pass_at_i(correct: Sequence[bool], i: int, confidences: Sequence[float] | None = None) -> float:
    """1 if one of the first i candidates (by confidence, else by position) is correct."""
    order = order_by_confidence(confidences, len(correct))
    return 1.0 if any(correct[j] for j in order[:i]) else 0.0


def coverage(correct: Sequence[bool]) -> float:
    """1 if any candidate is correct."""
    return 1.0 if any(correct) else 0.0


def distinct_correct(candidates: Sequence[str], correct: Sequence[bool]) -> int:
    """Number of distinct correct candidates (two that match count once)."""
    return distinct_count([a for a, y in zip(candidates, correct) if y])


def diversity(candidates: Sequence[str]) -> int:
    """Number of distinct candidates (after normalisation)."""
    return distinct_count(candidates)


def gold_recall(matched_gold: Sequence[int | None], n_gold: int) -> float:
    """Fraction of the gold answers hit by some candidate (matched_gold: gold index per candidate)."""
    if n_gold <= 0:
        return 0.0
    return len({g for g in matched_gold if g is not None}) / n_gold


def set_brier(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """Σ_i (p_i − y_i)² over the candidates of one question."""
    return sum((p - float(y)) ** 2 for p, y in zip(confidences, correct))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE over flattened (p, y) pairs with `n_bins` equal-width bins ([0, .1), …, [.9, 1])."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct must have the same length")
    if not confidences:
        return float("nan")
    bins: list[list[tuple[float, float]]] = [[] for _ in range(n_bins)]
    for p, y in zip(confidences, correct):
        bins[min(int(p * n_bins), n_bins - 1)].append((p, float(y)))
    total = len(confidences)
    return sum(
        len(b) / total * abs(sum(y for _, y in b) / len(b) - sum(p for p, _ in b) / len(b)) for b in bins if b
    )


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> list[dict]:
    """Per bin: its range, count, mean confidence and accuracy (for reliability diagrams)."""
    out = []
    for b in range(n_bins):
        pairs = [(p, float(y)) for p, y in zip(confidences, correct) if min(int(p * n_bins), n_bins - 1) == b]
        out.append({
            "lo": b / n_bins, "hi": (b + 1) / n_bins, "count": len(pairs),
            "confidence": sum(p for p, _ in pairs) / len(pairs) if pairs else None,
            "accuracy": sum(y for _, y in pairs) / len(pairs) if pairs else None,
        })
    return out


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve (Mann–Whitney, ties count one half); NaN if one class is missing."""
    pos = sum(1 for y in labels if y)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    # average ranks over ties, then U = Σ ranks of positives − pos(pos+1)/2
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, y in zip(ranks, labels) if y)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean, NaN for no values (NaN entries are skipped)."""
    kept = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(kept) / len(kept) if kept else float("nan")
