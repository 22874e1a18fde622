"""bench/prompt_tokens.py and the short prompt's budget: <= 60 system-prompt tokens with SmolLM2's tokenizer."""

import importlib.util
from pathlib import Path

import pytest

from multianswer.core.formats import AnswerFormat, FormatRules, system_prompt, with_rules

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("prompt_tokens", ROOT / "bench" / "prompt_tokens.py")
prompt_tokens = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(prompt_tokens)


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from multianswer.models.loading import load_tokenizer

    return load_tokenizer("smollm2")  # the tokenizer alone: no weights are loaded


@pytest.mark.parametrize("fmt", list(AnswerFormat), ids=str)
def test_every_short_system_prompt_fits_60_smollm2_tokens(fmt, smollm2_tokenizer):
    for k in (1, 2, 3, 5, 9, 10, 32):
        text = system_prompt(with_rules(fmt, FormatRules(prompt_style="short")), k)
        assert len(smollm2_tokenizer(text, add_special_tokens=False)["input_ids"]) <= 60, (fmt, k, text)


def test_the_table_has_every_style_and_format_and_short_is_shorter(smollm2_tokenizer):
    rows = prompt_tokens.token_rows(smollm2_tokenizer, 3, "procedural-sets")
    tokens = {(style, name): (system, whole) for style, name, system, whole in rows}
    assert len(rows) == 8 and {s for s, _ in tokens} == {"paper", "short"}
    for fmt in AnswerFormat:
        paper, short = tokens["paper", fmt.value], tokens["short", fmt.value]
        assert short[0] <= 60 and short[0] < paper[0] and short[1] < paper[1] and short[1] - short[0] == paper[1] - paper[0]
    assert tokens["paper", "multi-conf"][0] > 3 * tokens["short", "multi-conf"][0]
