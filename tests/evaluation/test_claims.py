import pytest

from multianswer.evaluation.claims import (
    all_distinct_share,
    claims_json,
    claims_table,
    kind_claims,
    oracle_rows,
    run_names,
    verdict,
)

K = 3


def _runs(**overrides) -> dict[str, dict]:
    """Five summaries where every claim holds; `overrides` = {run name: {key: value}}."""
    runs = {
        "base-3-samples": {"pass@3": 0.60, "diversity": 2.4, "tokens_per_question": 60.0},
        "base-multi-conf": {"coverage": 0.55, "ece": 0.20, "set_brier": 0.70, "tokens_per_question": 30.0},
        "rlvr-3-samples": {"pass@3": 0.50, "diversity": 1.2, "tokens_per_question": 50.0},
        "multi-rlvr": {"coverage": 0.70, "tokens_per_question": 25.0},
        "multi-rlcr": {"coverage": 0.65, "ece": 0.04, "set_brier": 0.50, "tokens_per_question": 35.0},
    }
    for name, values in overrides.items():
        runs[name] = {**runs[name], **values}
    return runs


def _by_id(claims):
    return {c.id: c for c in claims}


def test_run_names_are_the_demo_directories():
    assert run_names(3) == {"base": "base-3-samples", "base_conf": "base-multi-conf", "rlvr": "rlvr-3-samples",
                            "multi_rlvr": "multi-rlvr", "multi_rlcr": "multi-rlcr"}


def test_every_claim_holds_on_good_runs_with_the_hand_computed_figures():
    claims = _by_id(kind_claims("cases", _runs(), K, distinct_share=0.97, calibration=True))
    assert list(claims) == ["a.coverage", "a.tokens", "b.collapse", "b.distinct", "c.ece", "c.ece_vs_base", "c.brier", "c.coverage"]
    assert all(c.holds for c in claims.values())
    assert (claims["a.coverage"].value, claims["a.coverage"].reference) == (0.70, 0.50)
    assert claims["a.tokens"].value == pytest.approx(25 / 50)  # 0.5 of rlvr's tokens
    assert (claims["b.collapse"].value, claims["b.collapse"].reference) == (1.2, 2.4)
    assert (claims["c.coverage"].value, claims["c.coverage"].reference) == (0.65, 0.60)
    assert verdict(list(claims.values())) is True


def test_each_claim_fails_on_its_own_counterexample():
    cases = {
        "a.coverage": {"multi-rlvr": {"coverage": 0.49}},
        "a.tokens": {"multi-rlvr": {"tokens_per_question": 31.0}},  # 31/50 = 0.62 > 0.6
        "b.collapse": {"rlvr-3-samples": {"diversity": 2.4}},  # equal is not fewer
        "c.ece": {"multi-rlcr": {"ece": 0.051}},
        "c.ece_vs_base": {"base-multi-conf": {"ece": 0.03}},
        "c.brier": {"multi-rlcr": {"set_brier": 0.70}},
        "c.coverage": {"multi-rlcr": {"coverage": 0.59}},
    }
    for claim_id, overrides in cases.items():
        claims = _by_id(kind_claims("cases", _runs(**overrides), K, 0.97, calibration=True))
        assert [c for c, row in claims.items() if not row.holds] == [claim_id]
    claims = _by_id(kind_claims("cases", _runs(), K, 0.94, calibration=True))
    assert claims["b.distinct"].holds is False and verdict(list(claims.values())) is False


def test_ties_hold_where_the_claim_says_at_least():
    claims = _by_id(kind_claims("sets", _runs(**{"multi-rlvr": {"coverage": 0.5, "tokens_per_question": 30.0}}), K, 0.95, False))
    assert claims["a.coverage"].holds and claims["a.tokens"].holds and claims["b.distinct"].holds
    assert "c.ece" not in claims  # ECE claims only on the known-distribution kind


def test_a_missing_figure_is_unknown_and_fails_the_verdict():
    claims = kind_claims("sets", _runs(**{"multi-rlcr": {"set_brier": None}}), K, 0.97, calibration=False)
    brier = _by_id(claims)["c.brier"]
    assert brier.holds is None and verdict(claims) is False
    assert "| ? | multi-rlcr set Brier < base's | sets |  | 0.700 |" in claims_table(claims)


def test_all_distinct_share_counts_broken_formats_as_not_distinct():
    assert all_distinct_share([3, 3, 2, 0, None], 3) == pytest.approx(2 / 5)
    assert all_distinct_share([], 3) is None


def test_oracle_shares_by_hand():
    rows = _by_id(oracle_rows("cases", _runs(), K, oracle=0.80))
    assert rows["d.oracle"].value == 0.80
    assert rows["d.share.base"].value == pytest.approx(0.60 / 0.80)  # pass@3 for sampled runs
    assert rows["d.share.multi_rlvr"].value == pytest.approx(0.70 / 0.80)  # coverage for K-answer runs
    assert all(r.holds is None for r in rows.values())
    assert verdict(list(rows.values())) is True  # figures carry no verdict


def test_claims_json_and_table():
    claims = kind_claims("cases", _runs(), K, 0.97, calibration=True) + oracle_rows("cases", _runs(), K, 0.8)
    data = claims_json(claims, K)
    assert data["k"] == 3 and data["all_hold"] is True and len(data["claims"]) == 14
    assert data["claims"][0] == {"id": "a.coverage", "kind": "cases", "statement": "multi-rlvr coverage@3 >= rlvr pass@3",
                                 "value": 0.70, "reference": 0.50, "holds": True}
    table = claims_table(claims)
    assert "| ✓ | multi-rlvr coverage@3 >= rlvr pass@3 | cases | 0.700 | 0.500 |" in table
    assert "| · | best coverage any 3 answers reach" in table


def test_oracle_ece_by_hand():
    from multianswer.evaluation.claims import oracle_ece

    # the top 2 of each case at its true probability; one pair per bin except [.5, .6), which holds
    # both of the second case's (mean confidence .5, accuracy .5: no error)
    cases = [({"a": 0.6, "b": 0.3, "c": 0.1}, "a"), ({"a": 0.5, "b": 0.5}, "b"), ({"x": 0.7, "y": 0.2, "z": 0.1}, "z")]
    # pairs: (.6,1) (.3,0) (.5,0) (.5,1) (.7,0) (.2,0)
    expected = (abs(1 - 0.6) + abs(0 - 0.3) + 2 * abs(0.5 - 0.5) + abs(0 - 0.7) + abs(0 - 0.2)) / 6
    assert oracle_ece(cases, 2) == pytest.approx(expected)
    # to one decimal: .6 .3 | .5 .5 | .7 .2 are already one decimal, so the same figure
    assert oracle_ece(cases, 2, decimals=1) == pytest.approx(expected)
    assert oracle_ece([({"a": 0.64, "b": 0.36}, "a")], 1, decimals=1) == pytest.approx(abs(1 - 0.6))
    rows = _by_id(oracle_rows("cases", _runs(), K, oracle=0.8, ece=0.04))
    assert rows["d.oracle_ece"].value == 0.04 and rows["d.oracle_ece"].holds is None


def test_oracle_coverage_sums_the_top_k_probabilities():
    from multianswer.evaluation.claims import oracle_coverage

    assert oracle_coverage({"a": 0.1, "b": 0.5, "c": 0.15, "d": 0.25}, 2) == pytest.approx(0.75)
    assert oracle_coverage({"a": 0.6, "b": 0.4}, 3) == pytest.approx(1.0)


def test_confidence_gap_by_hand():
    from multianswer.evaluation.claims import confidence_gap

    truth = {"pox": 0.5, "rot": 0.3, "itch": 0.2}
    # " Pox" reads as pox; "murk" has true probability 0
    sets = [([" Pox", "rot", "murk"], [0.7, 0.2, 0.1], truth), (["itch"], [0.2], truth)]
    assert confidence_gap(sets) == pytest.approx((0.2 + 0.1 + 0.1 + 0.0) / 4)
    assert confidence_gap([]) is None
    rows = _by_id(oracle_rows("cases", _runs(), K, oracle=0.8, gaps={"base_conf": 0.2, "multi_rlcr": 0.1}))
    assert rows["d.gap.multi_rlcr"].value == 0.1 and rows["d.gap.multi_rlcr"].holds is None
    assert rows["d.gap.base_conf"].statement.startswith("base-multi-conf: ")
