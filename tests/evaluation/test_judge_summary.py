"""The summary's judge-versus-match disagreement, computed from results rows."""

from __future__ import annotations

from multianswer.evaluation.summary import judge_disagreement


def test_disagreement_counts_judged_candidates_only():
    rows = [
        {"completions": [{"correct": [True, False, True], "match_correct": [True, True, True]}]},
        {"completions": [{"correct": [], "match_correct": None},  # format failed: nothing judged
                         {"correct": [False], "match_correct": [False]}]},
        {"completions": [{"correct": [True]}]},  # verified by match itself: not a judged row
    ]
    assert judge_disagreement(rows) == (1 / 4, 4)


def test_no_judged_candidates_means_no_rate():
    assert judge_disagreement([{"completions": [{"correct": [True]}]}]) == (None, 0)
