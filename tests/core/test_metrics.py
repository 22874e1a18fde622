import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multianswer.core.metrics import (
    auroc,
    coverage,
    distinct_correct,
    diversity,
    expected_calibration_error,
    gold_recall,
    mean,
    pass_at_i,
    pass_at_k,
    reliability_bins,
    set_brier,
)


def brute_pass_at_k(n, c, k):
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_equals_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_hand_values_and_stability():
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 − C(3,2)/C(4,2) = 1 − 3/6
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 6, 5) == 1.0
    # huge n: the binomials overflow floats, the product form does not
    v = pass_at_k(100_000, 10, 1000)
    assert 0.0 < v < 1.0 and math.isfinite(v)
    assert v == pytest.approx(1 - math.prod(1 - 1000 / i for i in range(100_000 - 10 + 1, 100_001)))
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_pass_at_i_orders_by_confidence():
    correct = [False, False, True]
    assert [pass_at_i(correct, i) for i in (1, 2, 3)] == [0.0, 0.0, 1.0]  # by position
    confs = [0.2, 0.1, 0.6]  # the right one is the most confident
    assert [pass_at_i(correct, i, confs) for i in (1, 2, 3)] == [1.0, 1.0, 1.0]
    # ties keep written order: candidates 0 and 2 tie at 0.5, 0 comes first
    assert pass_at_i(correct, 1, [0.5, 0.1, 0.5]) == 0.0


def test_set_metrics():
    cands, correct = ["Paris", "paris", "Lyon", "Nice"], [True, True, True, False]
    assert coverage(correct) == 1.0 and coverage([False, False]) == 0.0
    assert distinct_correct(cands, correct) == 2  # Paris counted once
    assert diversity(cands) == 3
    assert gold_recall([0, 0, None, 2], n_gold=4) == 0.5  # gold answers 0 and 2 of 4
    # Σ (p − y)²: (0.5−1)² + (0.3−0)² + (0.1−1)² = 0.25 + 0.09 + 0.81
    assert set_brier([0.5, 0.3, 0.1], [True, False, True]) == pytest.approx(1.15)


def test_ece_hand_computed():
    # bin [0.9,1]: p = 0.9, 0.95 (mean 0.925), y = 1, 0 (acc 0.5): weight 2/5, gap 0.425
    # bin [0.2,0.3): p = 0.2, 0.2, 0.2, y = 0, 0, 1 (acc 1/3): weight 3/5, gap 0.1333…
    p = [0.9, 0.95, 0.2, 0.2, 0.2]
    y = [True, False, False, False, True]
    assert expected_calibration_error(p, y) == pytest.approx(2 / 5 * 0.425 + 3 / 5 * (1 / 3 - 0.2))
    assert expected_calibration_error([1.0, 0.0], [True, False]) == 0.0  # 1.0 falls in the last bin
    bins = reliability_bins(p, y)
    assert bins[9]["count"] == 2 and bins[9]["accuracy"] == 0.5 and bins[2]["count"] == 3
    assert math.isnan(expected_calibration_error([], []))


def test_auroc_hand_computed():
    assert auroc([0.9, 0.8, 0.2, 0.1], [True, True, False, False]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    # positives 0.8, 0.4; negatives 0.6, 0.4: pairs (0.8>0.6)=1, (0.8>0.4)=1, (0.4<0.6)=0, (0.4=0.4)=½ → 2.5/4
    assert auroc([0.8, 0.4, 0.6, 0.4], [True, True, False, False]) == pytest.approx(0.625)
    assert math.isnan(auroc([0.1, 0.2], [True, True]))


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=2, max_size=40))
def test_auroc_matches_pair_counting(pairs):
    scores, labels = [p for p, _ in pairs], [y for _, y in pairs]
    pos = [s for s, y in pairs if y]
    neg = [s for s, y in pairs if not y]
    if not pos or not neg:
        assert math.isnan(auroc(scores, labels))
        return
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    assert auroc(scores, labels) == pytest.approx(wins / (len(pos) * len(neg)))


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=50))
def test_ece_in_unit_interval(pairs):
    assert 0.0 <= expected_calibration_error([p for p, _ in pairs], [y for _, y in pairs]) <= 1.0


def test_mean_skips_nan():
    assert mean([1.0, float("nan"), 3.0]) == 2.0 and math.isnan(mean([]))
