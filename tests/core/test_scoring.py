"""The scoring layer: one verdict per completion, shared by rewards and evaluation; verifier errors counted, never silent."""

from __future__ import annotations

import pytest

from multianswer.core.errors import UserError
from multianswer.core.formats import AnswerFormat, format_completion
from multianswer.core.matching import register_verifier
from multianswer.core.rewards import build_rewards, correctness_reward, format_reward
from multianswer.core.scoring import SYSTEMATIC_MIN_CALLS, VerifierFailure, VerifierTally, score_completion


def crashes_on_bad(candidates, gold):
    """A verifier with a bug: it raises when a candidate says 'bad'."""
    if any("bad" in c for c in candidates):
        raise RuntimeError("cannot compare 'bad'\nsecond line of the traceback text")
    return [c in gold for c in candidates]


def always_crashes(candidates, gold):
    raise KeyError("gold_index")


def refuses_the_gold(candidates, gold):
    raise UserError("scoring-test: the gold holds no test code")


register_verifier("scoring-test-flaky", crashes_on_bad)
register_verifier("scoring-test-broken", always_crashes)
register_verifier("scoring-test-user-error", refuses_the_gold)
MULTI = AnswerFormat.MULTI


def multi(*answers):
    return format_completion(list(answers), MULTI)


def rewards_of(fn, completions, verifier, log=None):
    return fn(prompts=[""] * len(completions), completions=completions, answers=[["ok"]] * len(completions),
              verifier=[verifier] * len(completions), log_metric=log)


def test_a_verifier_error_is_kept_with_the_completion():
    s = score_completion(multi("bad one", "ok", "x"), MULTI, 3, ["ok"], "scoring-test-flaky")
    assert s.verifier_error == "RuntimeError: cannot compare 'bad'"  # first line only: it goes into logs and rows
    assert s.correct == (False, False, False) and s.verified
    fine = score_completion(multi("fine one", "ok", "x"), MULTI, 3, ["ok"], "scoring-test-flaky")
    assert fine.verifier_error is None and fine.correct == (False, True, False)
    unparsed = score_completion("no tags", MULTI, 3, ["ok"], "scoring-test-broken")
    assert unparsed.verifier_error is None and not unparsed.verified  # never verified, so no error


def test_rewards_log_verifier_errors_per_batch():
    logged = {}
    batch = [multi("bad a", "ok", "x"), multi("b", "ok", "y"), multi("c", "d", "ok"), "junk"]
    scores = rewards_of(format_reward(MULTI, 3), batch, "scoring-test-flaky", lambda k, v: logged.__setitem__(k, v))
    assert scores == [1.0, 1.0, 1.0, 0.0]
    assert logged["answer_set/verifier_errors"] == 1.0
    # the crashed completion scores 0 for correctness, the others are verified normally
    assert rewards_of(correctness_reward(MULTI, 3), batch, "scoring-test-flaky") == [0.0, 1.0, 1.0, 0.0]


def test_a_verifier_that_fails_on_every_call_stops_training():
    batch = [multi(f"bad {i}", "ok", "x") for i in range(SYSTEMATIC_MIN_CALLS)]
    with pytest.raises(VerifierFailure) as err:
        rewards_of(format_reward(MULTI, 3), batch, "scoring-test-flaky")
    message = str(err.value)
    assert isinstance(err.value, UserError) and "\n" not in message  # the CLI prints it as one line, exit 2
    assert f"'scoring-test-flaky' raised on all {SYSTEMATIC_MIN_CALLS} completions" in message
    assert "RuntimeError: cannot compare 'bad'" in message
    # every reward of the method stops, not only the one that logs
    for fn in build_rewards("multi-rlvr", 3)[0]:
        with pytest.raises(VerifierFailure):
            rewards_of(fn, [multi(f"{i}a", f"{i}b", f"{i}c") for i in range(4)], "scoring-test-broken")


def test_a_few_failures_or_a_small_batch_do_not_stop():
    few = [multi(f"ok{i}", "bad", "x") for i in range(SYSTEMATIC_MIN_CALLS - 1)]
    assert rewards_of(correctness_reward(MULTI, 3), few, "scoring-test-flaky") == [0.0] * len(few)
    mixed = few + [multi("good", "ok", "x")]  # one call succeeded: not systematic
    assert rewards_of(correctness_reward(MULTI, 3), mixed, "scoring-test-flaky")[-1] == 1.0


def test_a_user_error_inside_a_verifier_is_raised_at_once():
    with pytest.raises(UserError, match="no test code"):
        score_completion(multi("a", "b", "c"), MULTI, 3, ["ok"], "scoring-test-user-error")


def test_tally_counts_and_checks():
    scored = [score_completion(multi(f"bad t{i}", "ok", "x"), MULTI, 3, ["ok"], "scoring-test-flaky") for i in range(3)]
    tally = VerifierTally("scoring-test-flaky").add(scored)
    assert (tally.calls, tally.errors) == (3, 3)
    tally.check("three")  # below SYSTEMATIC_MIN_CALLS
    tally.add([score_completion("junk", MULTI, 3, ["ok"], "scoring-test-flaky")])  # unparsed: not a call
    assert (tally.calls, tally.errors) == (3, 3)
    tally.add([score_completion(multi("bad t9", "ok", "x"), MULTI, 3, ["ok"], "scoring-test-flaky")])
    with pytest.raises(VerifierFailure, match="all 4 completions of four"):
        tally.check("four")
