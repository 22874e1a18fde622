"""Format warm-up with the answers' tokens left out of the loss (learn_answers=False)."""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from multianswer.core.formats import chat_messages, format_completion
from multianswer.training.format_warmup import format_warmup, target_pieces


def test_answer_text_is_cut_out_of_the_learned_pieces():
    target = "<think>x</think><answer1>Peru</answer1><confidence1>0.3</confidence1><answer2>Chad</answer2><confidence2>0.1</confidence2>"
    assert target_pieces(target, learn_answers=False) == [
        ("<think>x</think><answer1>", True), ("Peru", False),
        ("</answer1><confidence1>0.3</confidence1><answer2>", True), ("Chad", False),
        ("</answer2><confidence2>0.1</confidence2>", True),
    ]
    assert target_pieces(target, learn_answers=True) == [(target, True)]


answer_text = st.text(st.characters(blacklist_characters="<>", blacklist_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(answers=st.lists(answer_text, min_size=1, max_size=4), fmt=st.sampled_from(["single", "multi", "multi-conf"]))
def test_pieces_rebuild_the_target_and_leave_out_exactly_the_answers(answers, fmt):
    if fmt == "single":
        answers = answers[:1]
    conf = [0.1] * len(answers) if fmt == "multi-conf" else None
    target = format_completion(answers, fmt, conf, think="because")
    pieces = target_pieces(target, learn_answers=False)
    assert "".join(text for text, _ in pieces) == target
    assert [text for text, learned in pieces if not learned] == answers


def _p_answer(model, tok, prompt: str, answer: str) -> float:
    """Probability of the first token of `answer` right after the opening answer tag."""
    ids = tok(prompt + "<think>ok</think><answer>", add_special_tokens=False, return_tensors="pt")["input_ids"]
    target = tok(answer, add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        return torch.softmax(model(input_ids=ids).logits[0, -1], -1)[target].item()


@pytest.mark.slow
def test_masked_answers_teach_the_tags_but_not_the_answer(tmp_path, monkeypatch):
    from multianswer.models.loading import load_model

    monkeypatch.setenv("MULTIANSWER_CACHE", str(tmp_path / "cache"))
    rng = random.Random(0)
    rows = [(chat_messages(f"Name a number below {rng.randrange(10, 30)}.", "single", 1),
             format_completion(["7"], "single", None, think="ok")) for _ in range(64)]
    probs = {}
    for learn in (True, False):
        torch.manual_seed(0)
        model, tok = load_model("tiny", device="cpu")
        format_warmup(model, tok, rows, steps=40, lr=4e-3, batch_size=8, seed=0, progress=False, learn_answers=learn)
        prompt = tok.apply_chat_template(rows[0][0], tokenize=False, add_generation_prompt=True)
        probs[learn] = _p_answer(model, tok, prompt, "7")
    # every target answers "7": learned, it becomes near certain; masked, it stays near where it started
    assert probs[True] > 0.5 and probs[False] < 0.1
