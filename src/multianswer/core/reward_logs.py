"""What the reward functions log at each training step: statistics of the batch's answer sets.

The format reward passes these to TRL's `log_metric` hook (so they land next to TRL's own
metrics, averaged over processes). `answer_set/verifier_errors` counts the completions whose
verifier raised in this batch: those are scored as wrong, and this number says how many.
"""

from __future__ import annotations

from collections.abc import Sequence

from multianswer.core.matching import distinct_count
from multianswer.core.scoring import Scored


def answer_set_stats(scored: Sequence[Scored]) -> dict[str, float]:
    """Answer-set statistics of a batch: format rate, candidates written, distinct candidates, mean Σp, verifier errors."""
    ok = [s for s in scored if s.parsed.format_ok]
    stats = {
        "answer_set/format_rate": len(ok) / len(scored),
        "answer_set/candidates_written": sum(s.parsed.n_written for s in scored) / len(scored),
        "answer_set/verifier_errors": float(sum(s.verifier_error is not None for s in scored)),
    }
    if ok:
        stats["answer_set/distinct_candidates"] = sum(distinct_count(s.parsed.answers) for s in ok) / len(ok)
        stats["answer_set/any_correct"] = sum(any(s.correct) for s in ok) / len(ok)
        with_p = [s for s in ok if s.parsed.confidences is not None]
        if with_p:
            stats["answer_set/confidence_sum"] = sum(sum(s.parsed.confidences) for s in with_p) / len(with_p)
    return stats
