import pytest

from multianswer.evaluation.claims import (
    KindFigures,
    PairedDifference,
    all_distinct_share,
    claims_json,
    claims_table,
    drawn_gold_ece,
    kind_claims,
    oracle_rows,
    paired_difference,
    run_names,
    several_valid_answers,
    verdict,
)

K = 3


def _runs(**overrides) -> dict[str, dict]:
    """Five summaries where every claim holds; `overrides` = {run name: {key: value}}."""
    runs = {
        "base-3-samples": {"pass@3": 0.60, "diversity": 2.4, "tokens_per_question": 60.0},
        "base-multi-conf": {"coverage": 0.55, "ece": 0.20, "set_brier": 0.70, "tokens_per_question": 30.0},
        "rlvr-3-samples": {"pass@3": 0.50, "diversity": 1.2, "distinct_correct": 1.1, "tokens_per_question": 50.0},
        "multi-rlvr": {"coverage": 0.70, "distinct_correct": 2.8, "tokens_per_question": 25.0},
        "multi-rlcr": {"coverage": 0.65, "ece": 0.04, "set_brier": 0.50, "tokens_per_question": 35.0},
    }
    for name, values in overrides.items():
        runs[name] = {**runs[name], **values}
    return runs


def _figures(**overrides) -> KindFigures:
    """Row figures of a kind with several valid answers and a known distribution, where every claim holds."""
    good = KindFigures(distinct_share=0.97, several_answers=True, coverage_gain=PairedDifference(0.15, [0.05, 0.25], 100),
                       recall_gain=PairedDifference(1.7, [1.4, 2.0], 100), calibration=True, gaps={"base_conf": 0.20, "multi_rlcr": 0.08}, drawn_ece=0.03)
    return KindFigures(**{**vars(good), **overrides})


def _by_id(claims):
    return {c.id: c for c in claims}


def test_run_names_are_the_demo_directories():
    assert run_names(3) == {"base": "base-3-samples", "base_conf": "base-multi-conf", "rlvr": "rlvr-3-samples",
                            "multi_rlvr": "multi-rlvr", "multi_rlcr": "multi-rlcr"}


def test_every_claim_holds_on_good_runs_with_the_hand_computed_figures():
    claims = _by_id(kind_claims("cases", _runs(), K, _figures()))
    assert list(claims) == ["a.coverage", "a.tokens", "a.recall", "a.training", "b.collapse", "b.distinct",
                            "c.gap", "c.ece10", "c.ece_vs_base", "c.brier", "c.coverage"]
    assert all(c.holds for c in claims.values())
    assert (claims["a.coverage"].value, claims["a.coverage"].reference) == (0.70, 0.50)
    assert claims["a.tokens"].value == pytest.approx(25 / 50)  # 0.5 of rlvr's tokens
    recall = claims["a.recall"]  # multi-rlvr's distinct correct answers minus rlvr's, paired per question
    assert (recall.value, recall.reference, recall.interval) == (1.7, 0.0, [1.4, 2.0])
    training = claims["a.training"]
    assert (training.value, training.reference, training.interval) == (0.15, 0.0, [0.05, 0.25])
    assert (claims["b.collapse"].value, claims["b.collapse"].reference) == (1.2, 2.4)
    assert claims["c.gap"].value == 0.08 and claims["c.gap"].reference == pytest.approx(0.10)  # min(0.10, 0.6 x 0.20)
    assert (claims["c.ece10"].value, claims["c.ece10"].reference) == (0.03, 0.05)
    assert (claims["c.coverage"].value, claims["c.coverage"].reference) == (0.65, 0.60)
    assert verdict(list(claims.values())) is True


def test_each_claim_fails_on_its_own_counterexample():
    cases = {
        "a.coverage": ({"multi-rlvr": {"coverage": 0.49}}, {}),
        "a.tokens": ({"multi-rlvr": {"tokens_per_question": 31.0}}, {}),  # 31/50 = 0.62 > 0.6
        "a.recall": ({}, {"recall_gain": PairedDifference(0.2, [-0.05, 0.45], 100)}),  # mean > 0, interval not
        "a.training": ({}, {"coverage_gain": PairedDifference(0.05, [-0.01, 0.11], 100)}),  # mean > 0, interval not
        "b.collapse": ({"rlvr-3-samples": {"diversity": 2.4}}, {}),  # equal is not fewer
        "b.distinct": ({}, {"distinct_share": 0.94}),
        "c.gap": ({}, {"gaps": {"base_conf": 0.20, "multi_rlcr": 0.101}}),  # above 0.10
        "c.ece10": ({}, {"drawn_ece": 0.051}),
        "c.ece_vs_base": ({"base-multi-conf": {"ece": 0.03}}, {}),
        "c.brier": ({"multi-rlcr": {"set_brier": 0.70}}, {}),
        "c.coverage": ({"multi-rlcr": {"coverage": 0.59}}, {}),
    }
    for claim_id, (overrides, figures) in cases.items():
        claims = _by_id(kind_claims("cases", _runs(**overrides), K, _figures(**figures)))
        assert [c for c, row in claims.items() if not row.holds] == [claim_id]
        assert verdict(list(claims.values())) is False


def test_the_gap_must_also_be_well_below_the_bases():
    # 0.08 <= 0.10, but the base's gap is 0.12: the bound is 0.6 x 0.12 = 0.072
    gap = _by_id(kind_claims("cases", _runs(), K, _figures(gaps={"base_conf": 0.12, "multi_rlcr": 0.08})))["c.gap"]
    assert gap.reference == pytest.approx(0.072) and gap.holds is False
    gap = _by_id(kind_claims("cases", _runs(), K, _figures(gaps={"base_conf": 0.12, "multi_rlcr": 0.072})))["c.gap"]
    assert gap.holds is True  # at the bound
    gap = _by_id(kind_claims("cases", _runs(), K, _figures(gaps={"base_conf": None, "multi_rlcr": 0.05})))["c.gap"]
    assert gap.reference is None and gap.holds is None  # no base gap: not checkable


def test_ties_hold_where_the_claim_says_at_least():
    runs = _runs(**{"multi-rlvr": {"coverage": 0.5, "tokens_per_question": 30.0}})
    claims = _by_id(kind_claims("sets", runs, K, _figures(distinct_share=0.95, calibration=False, drawn_ece=0.05)))
    assert claims["a.coverage"].holds and claims["a.tokens"].holds and claims["b.distinct"].holds
    assert not {"c.gap", "c.ece10", "c.ece_vs_base"} & set(claims)  # calibration claims only on the known-distribution kind
    claims = _by_id(kind_claims("cases", _runs(), K, _figures(drawn_ece=0.05)))
    assert claims["c.ece10"].holds is True


def test_recall_is_claimed_only_where_questions_have_several_answers_and_training_everywhere():
    claims = _by_id(kind_claims("cases", _runs(), K, _figures(several_answers=False)))
    assert "a.recall" not in claims and "a.training" in claims
    # an interval starting at 0 is not above it; no interval (or no gain) cannot be checked
    for gain in (PairedDifference(0.1, [0.0, 0.2], 50), PairedDifference(0.1, None, 50), None):
        training = _by_id(kind_claims("cases", _runs(), K, _figures(coverage_gain=gain)))["a.training"]
        assert training.holds is (False if gain and gain.interval else None)


def test_a_missing_figure_is_unknown_and_fails_the_verdict():
    claims = kind_claims("sets", _runs(**{"multi-rlcr": {"set_brier": None}}), K, _figures(calibration=False))
    brier = _by_id(claims)["c.brier"]
    assert brier.holds is None and verdict(claims) is False
    assert "| ? | multi-rlcr set Brier < base's | sets |  | 0.700 |" in claims_table(claims)


def test_several_valid_answers_reads_the_golds():
    assert several_valid_answers([["apples", "fish", "nuts"], ["red"]]) is True
    assert several_valid_answers([["pox"], ["rot"]]) is False
    assert several_valid_answers([[["red", "reds"]]]) is False  # one answer with its aliases


def test_paired_difference_by_hand():
    after = {"q1": 1.0, "q2": 1.0, "q3": 0.0, "q4": 1.0, "q5": None}
    before = {"q1": 0.0, "q2": 1.0, "q3": 1.0, "q4": 0.0, "q6": 1.0}
    gain = paired_difference(after, before, n_bootstrap=200, seed=0)
    # paired on q1-q4 (q5 unscored, q6 only in before): differences 1, 0, -1, 1
    assert gain.n == 4 and gain.mean == pytest.approx(0.25)
    lo, hi = gain.interval
    assert -1.0 <= lo < 0.25 < hi <= 1.0  # four questions: the interval is wide and holds 0
    assert paired_difference(after, before, 200, 0) == gain  # a fixed seed: the same interval every time
    # the same differences in any row order, and every difference 1: the interval is exactly [1, 1]
    assert paired_difference(dict(reversed(list(after.items()))), before, 200, 0) == gain
    assert paired_difference({"a": 1.0, "b": 1.0}, {"a": 0.0, "b": 0.0}, 100, 0).interval == [1.0, 1.0]
    assert paired_difference({"a": 1.0}, {"b": 1.0}) is None


def test_paired_difference_resamples_like_the_summary_intervals():
    # the interval is the summary's bootstrap (same draws, same percentiles) applied to the per-question differences
    from multianswer.evaluation.summary import summarize_run

    after = {f"q{i}": float(i % 3 != 0) for i in range(30)}
    before = {f"q{i}": float(i % 2 == 0) for i in range(30)}
    ids = sorted(after)
    rows = [{"index": j, "id": i, "completions": [], "metrics": {"coverage": after[i] - before[i]}} for j, i in enumerate(ids)]
    summary = summarize_run(rows, {"format": "multi", "k": 3}, n_bootstrap=300, seed=7)
    gain = paired_difference(after, before, n_bootstrap=300, seed=7)
    assert gain.mean == pytest.approx(summary["coverage"]) and gain.interval == pytest.approx(summary["coverage_ci"])


def test_drawn_gold_ece_scores_each_candidate_against_every_drawn_gold():
    # case 1: p .6 "Pox" and .3 rot against golds pox, pox, rot, itch -> (.6: 2 of 4 right), (.3: 1 of 4 right)
    # case 2: p .6 murk against golds murk x4 -> (.6: 4 of 4 right)
    sets = [([" Pox", "rot"], [0.6, 0.3], ["pox", "pox", "rot", "itch"]), (["murk"], [0.6], ["murk"] * 4)]
    # bin [.6, .7): 8 pairs, 6 right, mean p .6 -> |.75 - .6|; bin [.3, .4): 4 pairs, 1 right -> |.25 - .3|
    expected = 8 / 12 * abs(6 / 8 - 0.6) + 4 / 12 * abs(1 / 4 - 0.3)
    assert drawn_gold_ece(sets) == pytest.approx(expected)
    assert drawn_gold_ece([]) is None


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
    claims = kind_claims("cases", _runs(), K, _figures()) + oracle_rows("cases", _runs(), K, 0.8)
    data = claims_json(claims, K)
    assert data["k"] == 3 and data["all_hold"] is True and len(data["claims"]) == 17
    assert data["claims"][0] == {"id": "a.coverage", "kind": "cases", "statement": "multi-rlvr coverage@3 >= rlvr pass@3",
                                 "value": 0.70, "reference": 0.50, "holds": True, "interval": None}
    assert data["claims"][3]["id"] == "a.training" and data["claims"][3]["interval"] == [0.05, 0.25]
    table = claims_table(claims)
    assert "| ✓ | multi-rlvr coverage@3 >= rlvr pass@3 | cases | 0.700 | 0.500 |" in table
    assert "| cases | 0.150 [0.050, 0.250] | 0.000 |" in table  # a.training: the mean difference and its interval
    assert all(line.count("|") == 6 for line in table.splitlines())  # no statement breaks the Markdown table
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
