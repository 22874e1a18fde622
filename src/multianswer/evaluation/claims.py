"""The paper's claims, checked on evaluation summaries: pure functions, one row per claim and kind.

Each kind of question (task) has five runs of the same held-out questions:

    base-K-samples   the base model, K independent single answers
    base-multi-conf  the base model, one K-answer generation with confidences
    rlvr-K-samples   rlvr, K independent single answers (pass@K)
    multi-rlvr       one K-answer generation
    multi-rlcr       one K-answer generation with confidences

The claims (issues: "the paper's effect, shown"; "the toy demo made honest and complete"):

    a. coverage     multi-rlvr coverage@K >= rlvr pass@K, at <= 0.6x rlvr's generated tokens per question;
                    on kinds whose questions have several valid answers, more distinct correct answers per
                    question than rlvr's K samples (recall); and above the base model's own K-answer
                    generation, the paired 95% bootstrap interval of the per-question difference above 0
                    (training, not asking, makes the answer sets)
    b. collapse     rlvr's K samples hold fewer distinct answers than the base model's K samples;
                    multi-rlvr's K answers are all distinct in >= 95% of questions
    c. calibration  on the known-distribution kind: multi-rlcr's mean gap between each stated confidence and
                    its candidate's true probability <= 0.10 and <= 0.6x the base model's; its ECE over 10
                    golds drawn per question <= 0.05 (with one gold per question even a model stating the
                    truth misses 0.05 in nearly half the draws); its ECE below the base model's stated
                    confidences. On every kind: its set Brier below the base's; its coverage >= base pass@K
    d. oracle       on the known-distribution kind: the best coverage any K answers reach (sum of
                    the top-K true probabilities) and each run's share of it; the ECE of stating the
                    true top-K probabilities against the same drawn golds, the floor that sampling noise puts
                    under claim c's ECE; and, for the runs that state confidences, the mean gap between each
                    stated confidence and its candidate's true probability (figures, not claims)

The thresholds are fixed here, before any run: nothing is tuned to make a claim hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from multianswer.core.matching import normalize_answer
from multianswer.core.metrics import expected_calibration_error
from multianswer.evaluation.summary import bootstrap_draws, mean_ci

TOKEN_RATIO_MAX = 0.6
DISTINCT_SHARE_MIN = 0.95
ECE_MAX = 0.05  # of c.ece10
GOLD_DRAWS = 10  # golds drawn per question for c.ece10
GAP_MAX = 0.10  # c.gap: multi-rlcr's mean gap at most this ...
GAP_RATIO_MAX = 0.6  # ... and at most this share of the base model's
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 1000, 0  # of a.training's paired interval


def run_names(k: int) -> dict[str, str]:
    """Role -> run directory name of the five runs each kind is evaluated with."""
    return {"base": f"base-{k}-samples", "base_conf": "base-multi-conf", "rlvr": f"rlvr-{k}-samples",
            "multi_rlvr": "multi-rlvr", "multi_rlcr": "multi-rlcr"}


@dataclass
class Claim:
    """One checked claim on one kind: the measured figure, what it is held against, and whether it holds."""

    id: str  # a.coverage, b.collapse, ...
    kind: str  # the task it was measured on
    statement: str
    value: float | None
    reference: float | None
    holds: bool | None  # None: a figure was missing, or the row is a figure, not a claim
    interval: list[float] | None = None  # a 95% interval of `value`, where the claim is judged on one


@dataclass
class PairedDifference:
    """The mean per-question difference between two runs on the same questions, with its paired bootstrap 95% interval."""

    mean: float
    interval: list[float] | None
    n: int  # questions both runs score


@dataclass
class KindFigures:
    """What one kind's claims need beyond its runs' summaries, computed from their rows (`multianswer.demo.effect`)."""

    distinct_share: float | None = None  # multi-rlvr's `all_distinct_share` (b.distinct)
    several_answers: bool = False  # the questions have several valid answers: a.recall is claimed
    coverage_gain: PairedDifference | None = None  # multi-rlvr − base-multi-conf coverage (a.training)
    recall_gain: PairedDifference | None = None  # multi-rlvr − rlvr-K-samples distinct correct answers (a.recall)
    calibration: bool = False  # the known-distribution kind: c.gap, c.ece10 and c.ece_vs_base are claimed
    gaps: Mapping[str, float | None] = field(default_factory=dict)  # {role: `confidence_gap`} (c.gap)
    drawn_ece: float | None = None  # multi-rlcr's `drawn_gold_ece` (c.ece10)


def _check(value: float | None, reference: float | None, test) -> bool | None:
    return None if value is None or reference is None else bool(test(value, reference))


def oracle_coverage(probabilities: Mapping[str, float], k: int) -> float:
    """The best chance any k distinct answers have of holding one draw: the sum of the top-k probabilities."""
    return sum(sorted(probabilities.values(), reverse=True)[:k])


def oracle_ece(cases: Sequence[tuple[Mapping[str, float], str]], k: int, decimals: int | None = None) -> float:
    """ECE of an oracle that states the true probabilities of the top-k answers (rounded to `decimals`, if given),
    against each case's drawn gold."""
    confidences, correct = [], []
    for probabilities, gold in cases:
        for answer in sorted(probabilities, key=probabilities.get, reverse=True)[:k]:
            p = probabilities[answer]
            confidences.append(p if decimals is None else round(p, decimals))
            correct.append(answer == gold)
    return expected_calibration_error(confidences, correct)


def confidence_gap(answer_sets: Sequence[tuple[Sequence[str], Sequence[float], Mapping[str, float]]]) -> float | None:
    """Mean |stated confidence − true probability| over every stated candidate of (answers, confidences, truth) sets."""
    gaps = []
    for answers, confidences, probabilities in answer_sets:
        truth = {normalize_answer(a): p for a, p in probabilities.items()}
        gaps += [abs(c - truth.get(normalize_answer(a), 0.0)) for a, c in zip(answers, confidences)]
    return sum(gaps) / len(gaps) if gaps else None


def drawn_gold_ece(answer_sets: Sequence[tuple[Sequence[str], Sequence[float], Sequence[str]]]) -> float | None:
    """ECE of (answers, confidences, golds) sets with every stated candidate scored against each of its question's golds."""
    confidences, correct = [], []
    for answers, stated, golds in answer_sets:
        drawn = [normalize_answer(g) for g in golds]
        for answer, p in zip(answers, stated):
            confidences += [p] * len(drawn)
            correct += [normalize_answer(answer) == g for g in drawn]
    return expected_calibration_error(confidences, correct) if confidences else None


def paired_difference(after: Mapping[str, float | None], before: Mapping[str, float | None],
                      n_bootstrap: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> PairedDifference | None:
    """Mean of after − before over the question ids both score, with the percentile interval of resampled questions."""
    ids = sorted(i for i, v in after.items() if v is not None and before.get(i) is not None)  # sorted: any row order
    if not ids:
        return None
    diffs = [after[i] - before[i] for i in ids]
    return PairedDifference(sum(diffs) / len(diffs), mean_ci(diffs, bootstrap_draws(len(diffs), n_bootstrap, seed)), len(diffs))


def several_valid_answers(golds: Sequence[Sequence]) -> bool:
    """Whether a kind's questions have several valid answers: some question's gold lists more than one."""
    return any(len(gold) > 1 for gold in golds)


def all_distinct_share(question_diversity: Sequence[float | None], k: int) -> float | None:
    """Share of questions whose answer set holds k distinct candidates (a broken format counts as not)."""
    if not question_diversity:
        return None
    return sum(1 for d in question_diversity if d is not None and d >= k) / len(question_diversity)


def _gain_claim(claim_id: str, kind: str, statement: str, gain: PairedDifference | None) -> Claim:
    """A claim that one run beats another on the same questions: the paired 95% bootstrap interval of the difference above 0."""
    low = gain.interval[0] if gain is not None and gain.interval is not None else None
    return Claim(claim_id, kind, statement + " (paired 95% bootstrap interval of the difference above 0)",
                 gain.mean if gain is not None else None, 0.0, _check(low, 0.0, lambda a, b: a > b),
                 gain.interval if gain is not None else None)


def kind_claims(kind: str, runs: Mapping[str, dict], k: int, figures: KindFigures) -> list[Claim]:
    """Claims a, b and c of one kind from its runs' summaries (keys of `run_names`) and `figures` from their rows."""
    base, conf, rlvr, multi, rlcr = (runs[name] for name in run_names(k).values())
    tokens = multi.get("tokens_per_question"), rlvr.get("tokens_per_question")
    ratio = tokens[0] / tokens[1] if None not in tokens and tokens[1] else None
    rows = [
        Claim("a.coverage", kind, f"multi-rlvr coverage@{k} >= rlvr pass@{k}",
              multi.get("coverage"), rlvr.get(f"pass@{k}"), _check(multi.get("coverage"), rlvr.get(f"pass@{k}"), lambda a, b: a >= b)),
        Claim("a.tokens", kind, f"multi-rlvr tokens/question <= {TOKEN_RATIO_MAX}x rlvr's {k} samples",
              ratio, TOKEN_RATIO_MAX, _check(ratio, TOKEN_RATIO_MAX, lambda a, b: a <= b)),
    ]
    if figures.several_answers:
        rows.append(_gain_claim("a.recall", kind, f"multi-rlvr distinct correct answers per question above rlvr's {k} "
                                                  f"samples'", figures.recall_gain))
    rows += [
        _gain_claim("a.training", kind, f"multi-rlvr coverage@{k} above base-multi-conf's", figures.coverage_gain),
        Claim("b.collapse", kind, f"rlvr's {k} samples hold fewer distinct answers than base's",
              rlvr.get("diversity"), base.get("diversity"), _check(rlvr.get("diversity"), base.get("diversity"), lambda a, b: a < b)),
        Claim("b.distinct", kind, f"multi-rlvr's {k} answers distinct in >= {DISTINCT_SHARE_MIN:.0%} of questions",
              figures.distinct_share, DISTINCT_SHARE_MIN, _check(figures.distinct_share, DISTINCT_SHARE_MIN, lambda a, b: a >= b)),
    ]
    if figures.calibration:
        base_gap = figures.gaps.get("base_conf")
        bound = min(GAP_MAX, GAP_RATIO_MAX * base_gap) if base_gap is not None else None
        gap = figures.gaps.get("multi_rlcr")
        rows += [
            Claim("c.gap", kind, f"multi-rlcr mean gap between stated confidence and true probability <= {GAP_MAX} "
                                 f"and <= {GAP_RATIO_MAX}x base-multi-conf's", gap, bound, _check(gap, bound, lambda a, b: a <= b)),
            Claim("c.ece10", kind, f"multi-rlcr ECE over {GOLD_DRAWS} drawn golds per question <= {ECE_MAX}",
                  figures.drawn_ece, ECE_MAX, _check(figures.drawn_ece, ECE_MAX, lambda a, b: a <= b)),
            Claim("c.ece_vs_base", kind, "multi-rlcr ECE < base's stated confidences",
                  rlcr.get("ece"), conf.get("ece"), _check(rlcr.get("ece"), conf.get("ece"), lambda a, b: a < b)),
        ]
    rows += [
        Claim("c.brier", kind, "multi-rlcr set Brier < base's", rlcr.get("set_brier"), conf.get("set_brier"),
              _check(rlcr.get("set_brier"), conf.get("set_brier"), lambda a, b: a < b)),
        Claim("c.coverage", kind, f"multi-rlcr coverage@{k} >= base pass@{k}", rlcr.get("coverage"), base.get(f"pass@{k}"),
              _check(rlcr.get("coverage"), base.get(f"pass@{k}"), lambda a, b: a >= b)),
    ]
    return rows


def oracle_rows(kind: str, runs: Mapping[str, dict], k: int, oracle: float, ece: float | None = None,
                gaps: Mapping[str, float | None] | None = None) -> list[Claim]:
    """Claim d: the oracle coverage@K, each run's share of it (coverage, or pass@K for sampled runs), the oracle's ECE,
    and `gaps` ({role: `confidence_gap`}) of the runs that state confidences."""
    rows = [Claim("d.oracle", kind, f"best coverage any {k} answers reach (sum of top-{k} true probabilities)", oracle, None, None)]
    if ece is not None:
        rows.append(Claim("d.oracle_ece", kind, f"ECE of stating the true top-{k} probabilities (the noise floor of c.ece10)",
                          ece, None, None))
    for role, name in run_names(k).items():
        s = runs[name]
        got = s.get(f"pass@{k}") if name.endswith("-samples") else s.get("coverage")
        share = got / oracle if got is not None and oracle else None
        rows.append(Claim(f"d.share.{role}", kind, f"{name}: share of the oracle", share, None, None))
    for role, gap in (gaps or {}).items():
        rows.append(Claim(f"d.gap.{role}", kind, f"{run_names(k)[role]}: mean gap between stated confidence and true probability",
                          gap, None, None))
    return rows


def verdict(claims: Sequence[Claim]) -> bool:
    """Whether every checkable claim holds (figures without a verdict are skipped; a missing value fails)."""
    checked = [c for c in claims if not c.id.startswith("d.")]
    return all(c.holds is True for c in checked)


def claims_json(claims: Sequence[Claim], k: int) -> dict:
    """The machine-readable claims.json content."""
    return {"k": k, "all_hold": verdict(claims), "claims": [asdict(c) for c in claims]}


def claims_table(claims: Sequence[Claim]) -> str:
    """The ✓/✗ table printed at the end of the demo (Markdown)."""
    lines = ["| | claim | kind | value | against |", "|---|---|---|---:|---:|"]
    for c in claims:
        mark = {True: "✓", False: "✗", None: "·" if c.id.startswith("d.") else "?"}[c.holds]
        value = _fmt(c.value) + (f" [{c.interval[0]:.3f}, {c.interval[1]:.3f}]" if c.interval else "")
        lines.append(f"| {mark} | {c.statement} | {c.kind} | {value} | {_fmt(c.reference)} |")
    return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"
