import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multianswer.core.formats import format_completion
from multianswer.core.rewards import (
    brier_reward,
    build_rewards,
    correctness_reward,
    format_reward,
    uniqueness_reward,
)


def multi(answers, confs=None):
    return format_completion(answers, "multi-conf" if confs else "multi", confs)


def call(fn, completions, answers, **kw):
    return fn(prompts=[""] * len(completions), completions=completions, answers=answers, **kw)


def test_format_reward():
    good, bad = multi(["a", "b", "c"]), "<answer1>a</answer1>"
    assert call(format_reward("multi", 3), [good, bad, multi(["a", "b"])], [["a"]] * 3) == [1.0, 0.0, 0.0]


def test_multi_rlvr_any_and_count():
    gold = [["Paris", "Lyon"]] * 4
    comps = [
        multi(["Paris", "Lyon", "Nice"]),  # two distinct right
        multi(["Nice", "Lille", "Lyon"]),  # one right
        multi(["paris", "Paris.", "Nice"]),  # the same right answer twice
        multi(["Nice", "Lille", "Metz"]),  # none
    ]
    assert call(correctness_reward("multi", 3, "any"), comps, gold) == [1.0, 1.0, 1.0, 0.0]
    # count: distinct right candidates / K -> 2/3, 1/3, 1/3 (duplicate counted once), 0
    assert call(correctness_reward("multi", 3, "count"), comps, gold) == pytest.approx([2 / 3, 1 / 3, 1 / 3, 0.0])


def test_multi_rlcr_brier_hand_computed():
    fn = brier_reward("multi-conf", 3)
    # y = (1, 0, 0), p = (0.6, 0.3, 0.1): 1 − (0.16 + 0.09 + 0.01)/3 = 1 − 0.26/3
    c1 = multi(["Flu", "Cold", "COVID"], [0.6, 0.3, 0.1])
    # y = (0, 0, 1), p = (0.5, 0.25, 0.25): 1 − (0.25 + 0.0625 + 0.5625)/3 = 1 − 0.875/3
    c2 = multi(["Cold", "Angina", "Flu"], [0.5, 0.25, 0.25])
    # Σp = 1.2 > 1 breaks the response constraint: 0
    c3 = multi(["Flu", "Cold", "COVID"], [0.6, 0.4, 0.2])
    # duplicate candidates break it too: 0
    c4 = multi(["Flu", "flu", "COVID"], [0.3, 0.3, 0.1])
    got = call(fn, [c1, c2, c3, c4], [["Flu"]] * 4)
    assert got == pytest.approx([1 - 0.26 / 3, 1 - 0.875 / 3, 0.0, 0.0])
    # switching the Σp ≤ 1 constraint off scores c3: y=(1,0,0): 1 − (0.16 + 0.16 + 0.04)/3
    assert call(brier_reward("multi-conf", 3, require_sum_le_one=False), [c3], [["Flu"]]) == pytest.approx([1 - 0.36 / 3])


def test_label_draws_average_each_term_over_the_draws():
    # p = (0.5, 0.3, 0.1) on (rot, pox, itch); draws rot, rot, pox, gloom
    c = multi(["rot", "pox", "itch"], [0.5, 0.3, 0.1])
    draws = [[[["rot"]], [["rot"]], [["pox"]], [["gloom"]]], []]  # the second row has none: its own gold counts
    # correct 'any': hits 1, 1, 1, 0 -> 0.75; the second row's own gold 'itch' -> 1
    assert call(correctness_reward("multi-conf", 3), [c, c], [[["rot"]], [["itch"]]], label_draws=draws) == [0.75, 1.0]
    # Brier: y=(1,0,0): 1 − (0.25 + 0.09 + 0.01)/3; y=(0,1,0): 1 − (0.25 + 0.49 + 0.01)/3; gloom: y=(0,0,0): 1 − 0.35/3
    rot, pox, gloom = 1 - 0.35 / 3, 1 - 0.75 / 3, 1 - 0.35 / 3
    got = call(brier_reward("multi-conf", 3), [c], [[["rot"]]], label_draws=draws[:1])
    assert got == pytest.approx([(2 * rot + pox + gloom) / 4])  # = 0.85
    assert call(format_reward("multi-conf", 3), [c], [[["gloom"]]], label_draws=draws[:1]) == [1.0]
    assert call(correctness_reward("multi-conf", 3), [c], [[["itch"]]], label_draws=[[]]) == [1.0]  # a batch without any draws


def test_missing_confidences_and_k_mismatch_score_zero():
    no_conf = multi(["Flu", "Cold", "COVID"])  # multi-conf asked, no confidences written
    two = multi(["Flu", "Cold"], [0.5, 0.5])  # K = 3 asked, two written
    for fn in (format_reward("multi-conf", 3), correctness_reward("multi-conf", 3), brier_reward("multi-conf", 3)):
        assert call(fn, [no_conf, two], [["Flu"]] * 2) == [0.0, 0.0]


def test_duplicates_zero_correctness_only_with_confidences():
    dup_conf = multi(["Flu", "flu", "Cold"], [0.4, 0.3, 0.2])
    dup = multi(["Flu", "flu", "Cold"])
    assert call(correctness_reward("multi-conf", 3), [dup_conf], [["Flu"]]) == [0.0]
    assert call(correctness_reward("multi", 3), [dup], [["Flu"]]) == [1.0]
    assert call(uniqueness_reward("multi", 3), [dup], [["Flu"]]) == pytest.approx([2 / 3])
    # build_rewards passes the switch on: Multi-RLVR can ask for distinct answers, Multi-RLCR can drop it
    dup_rlvr = build_rewards("multi-rlvr", 3, duplicates_zero=True)[0][1]
    dup_rlcr = build_rewards("multi-rlcr", 3, duplicates_zero=False)[0][1]
    assert call(dup_rlvr, [dup, multi(["Flu", "Cold", "Flu."])], [["Flu"]] * 2) == [0.0, 0.0]
    assert call(dup_rlcr, [dup_conf], [["Flu"]]) == [1.0]


def test_single_rlvr_and_rlcr():
    right = format_completion(["42"], "single-conf", [0.8])
    wrong = format_completion(["41"], "single-conf", [0.8])
    gold = [["42"]] * 2
    assert call(correctness_reward("single-conf"), [right, wrong], gold) == [1.0, 0.0]
    # 1 − (y − p)²: right: 1 − 0.04 = 0.96; wrong: 1 − 0.64 = 0.36
    assert call(brier_reward("single-conf"), [right, wrong], gold) == pytest.approx([0.96, 0.36])


def test_build_rewards_weights_and_totals():
    funcs, weights = build_rewards("multi-rlcr", 3)
    assert [f.__name__ for f in funcs] == ["format", "correct", "brier"] and weights == [0.5, 0.5, 0.5]
    c = multi(["Flu", "Cold", "COVID"], [0.6, 0.3, 0.1])
    total = sum(w * call(f, [c], [["Flu"]])[0] for f, w in zip(funcs, weights))
    assert total == pytest.approx(0.5 + 0.5 + 0.5 * (1 - 0.26 / 3))
    funcs, weights = build_rewards("rlvr", 3)
    assert [f.__name__ for f in funcs] == ["format", "correct"] and weights == [0.5, 0.5]
    funcs, _ = build_rewards("multi-rlvr", 2, uniqueness_weight=0.1)
    assert [f.__name__ for f in funcs] == ["format", "correct", "unique"]
    with pytest.raises(ValueError, match="multi-rlcr"):
        build_rewards("multi-rlvrr", 3)
    with pytest.raises(ValueError, match="k must be"):
        build_rewards("multi-rlvr", 0)


def test_chat_message_completions_and_log_metric():
    logged = {}
    fn = format_reward("multi-conf", 2)
    comps = [[{"role": "assistant", "content": multi(["a", "b"], [0.5, 0.25])}], [{"role": "assistant", "content": "nope"}]]
    out = fn(prompts=["q", "q"], completions=comps, answers=[["a"], ["a"]], log_metric=lambda k, v: logged.__setitem__(k, v))
    assert out == [1.0, 0.0]
    assert logged["answer_set/format_rate"] == 0.5
    assert logged["answer_set/distinct_candidates"] == 2.0
    assert logged["answer_set/confidence_sum"] == 0.75
    assert logged["answer_set/any_correct"] == 1.0


def test_missing_gold_column_is_a_clear_error():
    with pytest.raises(ValueError, match="answers"):
        format_reward("multi", 1)(prompts=[""], completions=["x"])


@settings(max_examples=200, deadline=None)
@given(text=st.text(), method=st.sampled_from(["rlvr", "rlcr", "multi-rlvr", "multi-rlcr"]), k=st.integers(1, 4))
def test_rewards_stay_in_range_on_any_text(text, method, k):
    for fn in build_rewards(method, k, correctness="count")[0]:
        (r,) = call(fn, [text], [["a"]])
        assert 0.0 <= r <= 1.0


def expected_brier(report, probs, answers):
    """Exact expected Multi-RLCR Brier reward: sum over which answer (or none) is the gold."""
    fn = brier_reward("multi-conf", len(answers))
    completion = multi(answers, report)
    outcomes = list(zip(answers, probs)) + [("something else", 1 - sum(probs))]
    return sum(q * call(fn, [completion], [[gold]])[0] for gold, q in outcomes)


def test_multi_rlcr_brier_is_proper():
    rng = random.Random(0)
    answers = ["red", "blue", "green"]
    for _ in range(20):
        raw = [rng.random() for _ in range(4)]
        probs = [round(x / sum(raw), 2) for x in raw[:3]]  # three candidates + "none of them"
        truth = expected_brier(probs, probs, answers)
        for _ in range(20):
            distorted = [min(1.0, max(0.0, round(p + rng.uniform(-0.2, 0.2), 2))) for p in probs]
            if distorted == probs:
                continue
            assert expected_brier(distorted, probs, answers) < truth
