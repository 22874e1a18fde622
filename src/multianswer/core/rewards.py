"""Reward functions with TRL's signature: fn(prompts, completions, **dataset_columns) -> list[float].

Every function is pure in (completion text, gold) and never raises on model text. The gold
column is `answers` (per example, the accepted answers; items may be alias lists); an
optional `verifier` column names the verifier ('match' by default, 'code' for unit tests).
An optional `label_draws` column holds several drawn golds per example (e.g. draws from a
known distribution): a row that has them earns the mean of each term over its draws.
Parsing and verification happen once per completion in `core.scoring` (shared with
evaluation); a verifier that raises on every completion of a batch stops training there.

`build_rewards(method, k)` returns the functions and weights of the reference runs:
    rlvr        0.5·format + 0.5·correct
    rlcr        0.5·format + 0.5·correct + 0.5·(1 − (correct − p)²)
    multi-rlvr  0.5·format + 0.5·correct            (correct: "any" or "count" of K)
    multi-rlcr  0.5·format + 0.5·correct + 0.5·(1 − (1/K)·Σ(p_i − y_i)²)
"""

from __future__ import annotations

from collections.abc import Callable

from multianswer.core.formats import AnswerFormat, FormatRules, as_format, with_rules
from multianswer.core.matching import distinct_count
from multianswer.core.reward_logs import answer_set_stats
from multianswer.core.scoring import Scored, score_batch

RewardFn = Callable[..., list[float]]
METHODS = ("rlvr", "rlcr", "multi-rlvr", "multi-rlcr")
METHOD_FORMATS = {
    "rlvr": AnswerFormat.SINGLE,
    "rlcr": AnswerFormat.SINGLE_CONF,
    "multi-rlvr": AnswerFormat.MULTI,
    "multi-rlcr": AnswerFormat.MULTI_CONF,
}
CORRECTNESS_MODES = ("any", "count")


# ---------------------------------------------------------------------------- per-completion terms

def format_term(s: Scored) -> float:
    """1 if the completion parses in its format, else 0."""
    return 1.0 if s.parsed.format_ok else 0.0


def correct_term(s: Scored, k: int, mode: str = "any", duplicates_zero: bool = False) -> float:
    """'any': 1 if some candidate is right; 'count': distinct right candidates / K; 0 on bad format."""
    if not s.parsed.format_ok or (duplicates_zero and not s.distinct):
        return 0.0
    if mode == "any":
        return 1.0 if any(s.correct) else 0.0
    return s.n_distinct_correct() / k


def brier_term(s: Scored, require_sum_le_one: bool = True) -> float:
    """1 − (1/K)·Σ(p_i − y_i)², 0 unless the format holds, candidates are distinct and (optionally) Σp ≤ 1."""
    p = s.parsed.confidences
    if not s.parsed.format_ok or p is None or not s.distinct:
        return 0.0
    if require_sum_le_one and sum(p) > 1.0 + 1e-6:
        return 0.0
    clipped = [min(1.0, max(0.0, x)) for x in p]
    return 1.0 - sum((x - y) ** 2 for x, y in zip(clipped, s.correct)) / len(clipped)


def uniqueness_term(s: Scored, k: int) -> float:
    """Distinct candidates / K (after normalisation); 0 on bad format."""
    if not s.parsed.format_ok:
        return 0.0
    return distinct_count(s.parsed.answers) / k


# ---------------------------------------------------------------------------- TRL reward functions

def _mean_over_draws(term: Callable[[Scored], float], scored: list[Scored], completions, label_draws, verifier,
                     fmt: AnswerFormat, k: int) -> list[float]:
    """Per row, the mean of `term` over its drawn golds (the expected reward, with less noise than one draw); rows without draws keep their own."""
    verifiers = verifier if isinstance(verifier, (list, tuple)) else [verifier] * len(scored)
    flat = [(c, gold, v) for c, draws, v in zip(completions, label_draws, verifiers) for gold in draws]
    # through score_batch, so a verifier that fails on the draws is tallied and stops the run as on the gold
    texts, golds, names = map(list, zip(*flat)) if flat else ([], [], [])
    by_draw = iter(score_batch(texts, fmt, k, golds, names))
    return [sum(term(next(by_draw)) for _ in draws) / len(draws) if draws else term(s) for s, draws in zip(scored, label_draws)]


def _reward_fn(name: str, fmt: AnswerFormat, k: int, term: Callable[[Scored], float], log: bool = False) -> RewardFn:
    def reward(prompts=None, completions=(), answers=None, verifier=None, label_draws=None, log_metric=None, **_) -> list[float]:
        scored = score_batch(completions, fmt, k, answers, verifier)
        if log and log_metric is not None and scored:
            for key, value in answer_set_stats(scored).items():
                log_metric(key, value)
        if label_draws:
            return _mean_over_draws(term, scored, completions, label_draws, verifier, fmt, k)
        return [term(s) for s in scored]

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = f"{name} reward ({fmt.value}, K={k})"
    return reward


def format_reward(fmt: AnswerFormat | str, k: int = 1) -> RewardFn:
    """Reward 1 when a completion parses in `fmt` with `k` candidates (logs answer-set statistics)."""
    return _reward_fn("format", as_format(fmt), k, format_term, log=True)


def correctness_reward(fmt: AnswerFormat | str, k: int = 1, mode: str = "any", duplicates_zero: bool | None = None) -> RewardFn:
    """RLVR / Multi-RLVR correctness; duplicates score 0 in confidence formats unless told otherwise."""
    fmt = as_format(fmt)
    if mode not in CORRECTNESS_MODES:
        raise ValueError(f"correctness mode must be one of {CORRECTNESS_MODES}, got {mode!r}")
    dup_zero = fmt.has_confidence if duplicates_zero is None else duplicates_zero
    return _reward_fn("correct", fmt, k, lambda s: correct_term(s, k, mode, dup_zero))


def brier_reward(fmt: AnswerFormat | str, k: int = 1, require_sum_le_one: bool = True) -> RewardFn:
    """RLCR / Multi-RLCR calibration: 1 − mean squared error of the confidences."""
    return _reward_fn("brier", as_format(fmt), k, lambda s: brier_term(s, require_sum_le_one))


def uniqueness_reward(fmt: AnswerFormat | str, k: int = 1) -> RewardFn:
    """Fraction of the K candidates that are distinct."""
    return _reward_fn("unique", as_format(fmt), k, lambda s: uniqueness_term(s, k))


def build_rewards(
    method: str,
    k: int = 3,
    correctness: str = "any",
    require_sum_le_one: bool = True,
    uniqueness_weight: float = 0.0,
    rules: FormatRules | None = None,
    duplicates_zero: bool | None = None,
) -> tuple[list[RewardFn], list[float]]:
    """The reward functions and weights of `method` (rlvr, rlcr, multi-rlvr, multi-rlcr), parsing under `rules`."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    fmt = with_rules(METHOD_FORMATS[method], rules)
    k = fmt.answers_per_completion(k)
    funcs = [format_reward(fmt, k), correctness_reward(fmt, k, correctness, duplicates_zero)]
    if fmt.has_confidence:
        funcs.append(brier_reward(fmt, k, require_sum_le_one))
    weights = [0.5] * len(funcs)
    if uniqueness_weight:
        funcs.append(uniqueness_reward(fmt, k))
        weights.append(uniqueness_weight)
    return funcs, weights
