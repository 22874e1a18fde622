"""Prompt plus completion against the model's context: the bound on K, read from config and tokenizer alone."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from multianswer.core.errors import UserError
from multianswer.models.context import _largest_k, check_fits_context, context_length, prompt_tokens
from multianswer.tasks import get_task, prompt_messages


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import os

    old = os.environ.get("MULTIANSWER_CACHE")
    os.environ["MULTIANSWER_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    from multianswer.models.loading import load_tokenizer

    yield load_tokenizer("tiny")
    if old is None:
        os.environ.pop("MULTIANSWER_CACHE", None)
    else:
        os.environ["MULTIANSWER_CACHE"] = old


@given(st.integers(0, 300), st.integers(1, 300))
def test_largest_k_is_the_last_that_fits(threshold, k):
    best = _largest_k(lambda kk: kk <= threshold, k)
    assert best == (min(threshold, k - 1) if threshold >= 1 and k > 1 else None)


def test_k_is_bounded_by_the_context_and_the_bound_is_tight(tiny):
    task = get_task("procedural-sets")
    examples = task.examples("test", 50)
    assert context_length("tiny") == 4096
    with pytest.raises(UserError) as err:
        check_fits_context("tiny", task, examples, "multi-conf", 1000, 512, k_option="--k")
    message = str(err.value)
    assert message.startswith("--k 1000: the longest prompt is ") and "4,096-token context of tiny" in message
    best = int(message.split("; --k ")[1].split()[0])
    check_fits_context("tiny", task, examples, "multi-conf", best, 512)  # the K it names fits
    longest = max(prompt_tokens(tiny, prompt_messages(ex, task, "multi-conf", best + 1)) for ex in examples)
    assert longest + 512 > 4096  # and one more does not


def test_completion_budget_alone_can_overflow(tiny):
    task = get_task("procedural-sets")
    examples = task.examples("test", 20)
    longest = max(prompt_tokens(tiny, prompt_messages(ex, task, "single", 1)) for ex in examples)
    check_fits_context("tiny", task, examples, "single", 5, 4096 - longest)  # exactly full: fits
    with pytest.raises(UserError, match=f"set max_completion_length {4096 - longest} at most$"):
        check_fits_context("tiny", task, examples, "single", 5, 4096 - longest + 1)
