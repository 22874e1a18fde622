import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multianswer.core.formats import (
    PROMPT_STYLES,
    AnswerFormat,
    FormatRules,
    RuledFormat,
    as_format,
    base_format,
    chat_messages,
    format_completion,
    parse_completion,
    parse_confidence,
    system_prompt,
    with_rules,
)
from multianswer.core.rewards import build_rewards

MULTI3 = (
    "<think>fever and cough</think>"
    "<answer1>Flu</answer1><confidence1>0.5</confidence1>"
    "<answer2>Cold</answer2><confidence2>0.3</confidence2>"
    "<answer3>COVID</answer3><confidence3>0.1</confidence3>"
)


def test_multi_conf_interleaved():
    p = parse_completion(MULTI3, "multi-conf", 3)
    assert p.format_ok and p.reason == "ok"
    assert p.answers == ("Flu", "Cold", "COVID")
    assert p.confidences == (0.5, 0.3, 0.1)
    assert p.n_written == 3 and p.think == "fever and cough" and p.analysis is None


def test_multi_conf_grouped_with_analysis():
    text = (
        "<think>t</think><answer1>a</answer1><answer2>b</answer2>"
        "<analysis>a is likelier</analysis><confidence1>70%</confidence1><confidence2> .2 </confidence2>"
    )
    p = parse_completion(text, "multi-conf", 2)
    assert p.format_ok
    assert p.answers == ("a", "b") and p.confidences == (0.7, 0.2)
    assert p.analysis == "a is likelier"


def test_single_formats():
    p = parse_completion("<think>x</think><answer> 42 </answer>", "single")
    assert p.format_ok and p.answers == ("42",) and p.confidences is None
    p = parse_completion("<think>x</think><answer>42</answer><analysis>sure</analysis><confidence>0.9</confidence>", "single-conf")
    assert p.format_ok and p.confidences == (0.9,)
    # a confidence where none is asked for is a format error
    assert parse_completion("<think>x</think><answer>42</answer><confidence>0.9</confidence>", "single").reason == "unexpected_confidence"


@pytest.mark.parametrize(
    "text, reason",
    [
        ("<answer1>a</answer1>", "missing_think"),
        ("<think>   </think><answer1>a</answer1>", "empty_think"),
        ("<think>t</think><think>u</think><answer1>a</answer1>", "extra_think"),
        ("<think>t<answer1>a</answer1></think>", "nested_tags"),
        ("<think>t</think><answer1>a</answer2>", "unbalanced_tags"),
        ("<think>t</think><answer1>a", "unbalanced_tags"),
        ("<think>t</think><answer1></answer1>", "empty_answer"),
        ("<think>t</think><answer>a</answer>", "bad_answer_tags"),
        ("<think>t</think><answer1>candidate 1</answer1>", "placeholder_answer"),
        ("<think>t</think><answer1>…</answer1>", "placeholder_answer"),  # the short prompt's placeholder
    ],
)
def test_multi_failures(text, reason):
    p = parse_completion(text, "multi", 1)
    assert not p.format_ok and p.reason == reason
    assert p.answers == () and p.confidences is None


def test_k_mismatch_reports_written_count():
    text = "<think>t</think><answer1>a</answer1><answer2>b</answer2>"
    assert parse_completion(text, "multi", 2).format_ok
    p = parse_completion(text, "multi", 3)
    assert not p.format_ok and p.reason == "wrong_count" and p.n_written == 2
    p = parse_completion(text + "<answer3>c</answer3><answer4>d</answer4>", "multi", 3)
    assert p.reason == "wrong_count" and p.n_written == 4


@pytest.mark.parametrize("bad", ["nan", "inf", "-0.1", "1.2", "150%", "high", "", "0.5.1", "1e-3"])
def test_bad_confidences_rejected(bad):
    text = f"<think>t</think><answer1>a</answer1><confidence1>{bad}</confidence1>"
    p = parse_completion(text, "multi-conf", 1)
    assert not p.format_ok and p.reason in ("bad_confidence",)


@pytest.mark.parametrize("raw, value", [("0.7", 0.7), (".7", 0.7), ("70%", 0.7), (" 0.70 ", 0.7), ("1", 1.0), ("0", 0.0), ("100%", 1.0), ("5 %", 0.05)])
def test_confidence_spellings(raw, value):
    assert parse_confidence(raw) == pytest.approx(value)


def test_missing_confidence():
    text = "<think>t</think><answer1>a</answer1><answer2>b</answer2><confidence1>0.5</confidence1>"
    assert parse_completion(text, "multi-conf", 2).reason == "missing_confidence"


def test_junk_never_raises_and_is_fast():
    junk = ("<think>" * 1000 + "</answer1>" * 1000 + "x" * 1000) * 300  # ~ 7 MB of broken tags
    assert not parse_completion(junk, "multi-conf", 3).format_ok
    big = "<think>" + "y" * 1_000_000 + "</think><answer1>a</answer1>"
    assert parse_completion(big, "multi", 1).format_ok
    assert not parse_completion(b"\xff\xfe<think>", "multi", 1).format_ok
    assert not parse_completion(None, "single").format_ok


@settings(max_examples=300, deadline=None)
@given(text=st.text(), fmt=st.sampled_from(list(AnswerFormat)), k=st.integers(1, 5))
def test_parser_never_raises_on_text(text, fmt, k):
    p = parse_completion(text, fmt, k)
    assert p.format_ok == (p.reason == "ok")


_TAGGY = st.sampled_from(["<think>", "</think>", "<answer1>", "</answer1>", "<answer2>", "</answer2>",
                          "<confidence1>", "</confidence1>", "<analysis>", "</analysis>", "0.5", "a", " "])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_TAGGY, max_size=30), fmt=st.sampled_from(list(AnswerFormat)))
def test_parser_never_raises_on_tag_soup(parts, fmt):
    p = parse_completion("".join(parts), fmt, 2)
    if p.format_ok:
        assert all(p.answers) and len(p.answers) == (2 if fmt.is_multi else 1)
        if fmt.has_confidence:
            assert all(0.0 <= c <= 1.0 for c in p.confidences)


_answer_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), min_size=1, max_size=30).map(str.strip).filter(bool).filter(
    lambda a: a.casefold() not in ("your answer", "…") and not a.casefold().startswith("candidate "))


@settings(max_examples=300, deadline=None)
@given(
    answers=st.lists(_answer_text, min_size=1, max_size=6),
    fmt=st.sampled_from(list(AnswerFormat)),
    grouped=st.booleans(),
    with_analysis=st.booleans(),
    data=st.data(),
)
def test_format_then_parse_roundtrip(answers, fmt, grouped, with_analysis, data):
    if not fmt.is_multi:
        answers = answers[:1]
    confs = None
    if fmt.has_confidence:
        confs = data.draw(st.lists(st.integers(0, 100), min_size=len(answers), max_size=len(answers)))
        confs = [c / 100 for c in confs]
    text = format_completion(answers, fmt, confs, analysis="because" if with_analysis else None, grouped=grouped)
    p = parse_completion(text, fmt, len(answers))
    assert p.format_ok, p.reason
    assert list(p.answers) == answers
    if confs is not None:
        assert list(p.confidences) == pytest.approx(confs)


def test_system_prompt_mentions_k_and_rules():
    s = system_prompt("multi-conf", 4, "Answer with a country name.")
    assert "exactly 4 DISTINCT" in s and "<answer4>" in s and "<confidence4>" in s and "<answer5>" not in s
    assert "sum to at most 1" in s and s.endswith("Answer with a country name.")
    assert "<confidence" not in system_prompt("multi", 2)
    msgs = chat_messages("What is 2+2?", "single", 1)
    assert [m["role"] for m in msgs] == ["system", "user"] and msgs[1]["content"].startswith("What is 2+2?")
    with pytest.raises(ValueError):
        system_prompt("multi", 0)


def test_as_format_errors_name_the_choices():
    assert as_format("multi_conf") is AnswerFormat.MULTI_CONF
    with pytest.raises(ValueError, match="multi-conf"):
        as_format("mullti")


STRICT = FormatRules(require_analysis=True, strict_confidence=True)
ANALYSIS = "<analysis>flu is commoner in winter</analysis>"


def test_rules_are_off_by_default_and_ride_with_the_format():
    assert with_rules("multi-conf", None) is AnswerFormat.MULTI_CONF
    assert with_rules("multi-conf", FormatRules()) is AnswerFormat.MULTI_CONF
    strict = with_rules("multi-conf", STRICT)
    assert strict == RuledFormat(AnswerFormat.MULTI_CONF, STRICT)
    assert (strict.value, strict.is_multi, strict.has_confidence) == ("multi-conf", True, True)
    assert as_format(strict) is strict and base_format(strict) is AnswerFormat.MULTI_CONF
    assert parse_completion(MULTI3, "multi-conf", 3).format_ok  # lenient: no analysis needed


@pytest.mark.parametrize(
    "text, rules, reason",
    [
        (MULTI3, FormatRules(require_analysis=True), "missing_analysis"),
        (MULTI3 + "<analysis>  </analysis>", FormatRules(require_analysis=True), "missing_analysis"),
        (MULTI3 + ANALYSIS, FormatRules(require_analysis=True), "ok"),
        (MULTI3.replace("0.5<", "50%<") + ANALYSIS, STRICT, "bad_confidence"),
        (MULTI3.replace("0.5<", "50%<"), FormatRules(), "ok"),
        (MULTI3.replace("0.5<", "1<").replace("0.3<", "0<").replace("0.1<", ".0<") + ANALYSIS, STRICT, "ok"),
    ],
)
def test_strict_rules(text, rules, reason):
    assert parse_completion(text, with_rules("multi-conf", rules), 3).reason == reason


def test_single_conf_analysis_and_formats_without_confidence():
    single = "<think>t</think><answer>Flu</answer><confidence>0.6</confidence>"
    assert parse_completion(single, with_rules("single-conf", STRICT)).reason == "missing_analysis"
    assert parse_completion(single.replace("<confidence>", ANALYSIS + "<confidence>"), with_rules("single-conf", STRICT)).format_ok
    # rlvr formats have no confidence, so nothing to analyse
    assert parse_completion("<think>t</think><answer1>a</answer1><answer2>b</answer2>", with_rules("multi", STRICT), 2).format_ok


@given(st.integers(0, 100), st.booleans())
def test_strict_confidence_takes_decimals_only(percent, as_percent):
    raw = f"{percent}%" if as_percent else f"{percent / 100:g}"
    assert parse_confidence(raw) == pytest.approx(percent / 100)
    assert (parse_confidence(raw, strict=True) is None) == as_percent


def test_prompt_states_the_rules():
    strict = system_prompt(with_rules("multi-conf", STRICT), 3)
    assert "<analysis></analysis> block is required" in strict and "not as a percentage" in strict
    lenient = system_prompt("multi-conf", 3)
    assert "required" not in lenient and "percentage" not in lenient
    assert system_prompt(with_rules("multi", STRICT), 3) == system_prompt("multi", 3)


def test_rewards_parse_under_the_rules():
    funcs, _ = build_rewards("multi-rlcr", 3, rules=STRICT)
    fmt_reward = funcs[0]
    texts = [MULTI3, MULTI3 + ANALYSIS, MULTI3.replace("0.5<", "50%<") + ANALYSIS]
    assert fmt_reward(completions=texts, answers=[["Flu"]] * 3) == [0.0, 1.0, 0.0]
    lenient, _ = build_rewards("multi-rlcr", 3)
    assert lenient[0](completions=texts, answers=[["Flu"]] * 3) == [1.0, 1.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(answers=st.lists(_answer_text, min_size=1, max_size=5), fmt=st.sampled_from(list(AnswerFormat)),
       grouped=st.booleans(), with_analysis=st.booleans(), data=st.data())
def test_strict_rules_pass_exactly_the_completions_with_an_analysis(answers, fmt, grouped, with_analysis, data):
    if not fmt.is_multi:
        answers = answers[:1]
    confs = [c / 100 for c in data.draw(st.lists(st.integers(0, 100), min_size=len(answers), max_size=len(answers)))]
    text = format_completion(answers, fmt, confs if fmt.has_confidence else None,
                             analysis="because" if with_analysis else None, grouped=grouped)
    p = parse_completion(text, with_rules(fmt, STRICT), len(answers))
    assert p.format_ok == (with_analysis or not fmt.has_confidence), p.reason
    if not p.format_ok:
        assert p.reason == "missing_analysis"


SHORT = FormatRules(prompt_style="short")
# every paper-style system prompt (4 formats x K 1, 2, 3, 5 x lenient and strict rules, with a task line), hashed
# before the short style existed: the paper configs must keep their prompts byte for byte
PAPER_PROMPTS_SHA256 = "a7b37a19ed730d7a5e5e9f987b7047693692668d9a6d79ed1ef55acea317ea0c"


def test_paper_prompts_are_unchanged_and_the_default():
    import hashlib

    digest = hashlib.sha256()
    for fmt in AnswerFormat:
        for k in (1, 2, 3, 5):
            for rules in (FormatRules(), FormatRules(True, True)):
                digest.update(system_prompt(with_rules(fmt, rules), k, "Each answer is the name of one city.").encode())
    assert digest.hexdigest() == PAPER_PROMPTS_SHA256
    assert FormatRules().prompt_style == "paper" and FormatRules(True, True).prompt_style == "paper"
    assert with_rules("multi", FormatRules(prompt_style="paper")) is AnswerFormat.MULTI  # the default: no rules to carry


@pytest.mark.parametrize("fmt", list(AnswerFormat), ids=str)
def test_short_prompt_shows_the_paper_tags_and_k(fmt):
    s = system_prompt(with_rules(fmt, SHORT), 4, "Each answer is one word.")
    assert "<think></think>" in s and s.endswith("Answer tags hold only the answer.\nEach answer is one word.")
    assert len(s) < len(system_prompt(fmt, 4)) / 2
    if fmt.is_multi:
        assert "4 distinct answers" in s and "<answer1>…</answer1>" in s and "<answer4>" in s and "<answer5>" not in s
    else:
        assert "<answer>…</answer>" in s and "<answer1>" not in s
    assert ("<confidence" in s) == fmt.has_confidence and ("sum at most 1" in s) == (fmt is AnswerFormat.MULTI_CONF)
    # the parser is the same: a completion in the layout the short prompt shows parses under the short rules
    answers = ["a", "b", "c", "d"][: fmt.answers_per_completion(4)]
    conf = [0.4, 0.3, 0.2, 0.1][: len(answers)] if fmt.has_confidence else None
    assert parse_completion(format_completion(answers, fmt, conf), with_rules(fmt, SHORT), 4).format_ok


def test_short_prompt_states_the_rules_and_travels_in_chat_messages():
    strict = system_prompt(with_rules("multi-conf", FormatRules(True, True, "short")), 3)
    assert "<analysis></analysis> block is required" in strict and "not as a percentage" in strict
    messages = chat_messages("Name a city of Peru.", with_rules("multi-conf", SHORT), 3)
    assert messages[0]["content"] == system_prompt(with_rules("multi-conf", SHORT), 3)
    assert messages[1]["content"] == chat_messages("Name a city of Peru.", "multi-conf", 3)[1]["content"]  # same user turn
    assert PROMPT_STYLES == ("paper", "short")
    with pytest.raises(ValueError, match="unknown prompt style 'tiny'"):
        FormatRules(prompt_style="tiny")
