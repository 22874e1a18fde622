"""bench/brier_reference.py: the rank hit-rate reference of the set Brier, on hand-computed answer sets."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("brier_reference", ROOT / "bench" / "brier_reference.py")
brier_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(brier_reference)


def _row(correct, confidences, format_ok=True):
    return {"completions": [{"format_ok": format_ok, "confidences": confidences, "correct": correct}]}


def test_stated_and_rank_rate_briers_by_hand():
    rows = [
        _row([True, False, False], [0.5, 0.2, 0.1]),  # (0.5-1)^2 + 0.2^2 + 0.1^2 = 0.30
        _row([False, False, False], [0.1, 0.1, 0.1]),  # 3 x 0.01 = 0.03
        _row([True, True, True], [0.9, 0.9, 0.9], format_ok=False),  # not a well-formed set: left out
    ]
    r = brier_reference.rank_reference(rows)
    assert r["sets"] == 2 and r["questions"] == 3
    assert r["stated"] == pytest.approx(0.165)
    assert r["rates"] == [0.5, 0.0, 0.0]
    # stating 0.5, 0, 0 for both: (0.5-1)^2 = 0.25 for the first, 0.5^2 = 0.25 for the second
    assert r["rate_brier"] == pytest.approx(0.25)
    assert r["mean_stated"] == pytest.approx([0.3, 0.15, 0.1])
    # knowing how many are right, not which: 1/3 each on the first ((2/3)^2 + 2 (1/3)^2 = 2/3), 0 on the second
    assert r["question_brier"] == pytest.approx(1 / 3)
    assert r["auroc"] == 1.0  # the one right candidate (0.5) is stated above every wrong one


def test_a_run_without_answer_sets_reports_none():
    assert brier_reference.rank_reference([_row([False], None)]) == {"sets": 0, "questions": 1}
