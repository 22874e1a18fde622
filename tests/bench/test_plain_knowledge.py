"""bench/plain_knowledge.py: replies in sentences scored against golds, the table, and a run on the tiny model."""

import importlib.util
import math
from pathlib import Path

import pytest

from multianswer.generation.backends import ReplayBackend, make_backend
from multianswer.tasks.base import Example

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("plain_knowledge", ROOT / "bench" / "plain_knowledge.py")
plain = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plain)

PESO = Example("currency-peso", "Name a country whose currency is the peso.",
               [["Mexico", "United Mexican States"], ["Argentina"], ["Chile"]])


def test_replies_in_sentences_are_scored_by_the_gold_they_name():
    replies = ["Mexico", "The peso is the currency of Mexico.", "I think Argentina.", "The peso.", "Spain"]
    scored = plain.score_replies(replies, PESO)
    assert scored.right == [True, True, True, False, False] and scored.distinct_right == 2


def test_replies_that_agree_are_counted_once_with_how_many_gave_them():
    replies = ["Mexico", "Mexico.", "Spain", "The answer is Spain.", "Chile", "I do not know."]
    # Mexico twice (right), Spain twice (wrong), Chile once (right); the refusal gives no answer (grouped by the
    # answer taken out of each reply, as the own-answer warm-up counts its frequencies)
    assert sorted(plain.score_replies(replies, PESO).agreement) == [(1, True), (2, False), (2, True)]


def test_summary_row_pass_at_1_pass_at_k_distinct_answers_and_agreement():
    scores = [plain.PlainScore([True, False, True, False], 2, ((2, True), (1, False), (1, False))),
              plain.PlainScore([False] * 4, 0, ((1, False), (3, False)))]
    row = plain.summary_row("t", scores, 4)
    # 5 distinct answers: 3 given once (none right), 2 given by more (one right)
    assert row == {"task": "t", "questions": 2, "pass@1": 0.25, "pass@4": 0.5, "distinct_right": 1.0,
                   "distinct_right_solved": 2.0, "answers": 5, "given_once": 0.6, "right_once": 0.0, "right_more": 0.5}
    assert math.isnan(plain.summary_row("t", scores[1:], 4)["distinct_right_solved"])
    table = plain.markdown_table([row], 4).splitlines()
    assert table[0].startswith("| task | questions | pass@1 | pass@4 |")
    assert table[2] == "| t | 2 | 0.250 | 0.500 | 1.00 | 2.00 |"
    assert table[4].startswith("| task | distinct answers | given by one reply |")
    assert table[6] == "| t | 5 | 0.600 | 0.000 | 0.500 |"


def test_the_plain_prompt_is_the_question_and_one_instruction(private_cache):
    example = plain.pick_questions("currency-countries", 1, seed=0)[0]
    # the prompt the own-answer warm-up asks with (generation.plain): the question, the instruction on its own line
    assert plain.plain_messages(example.problem) == [{"role": "user", "content": example.problem + "\nAnswer with the name only."}]
    # a seeded sample: the same questions again, others for another seed, all of them when n is large
    assert plain.pick_questions("currency-countries", 3, 0) == plain.pick_questions("currency-countries", 3, 0)
    assert plain.pick_questions("currency-countries", 3, 0) != plain.pick_questions("currency-countries", 3, 1)
    assert len(plain.pick_questions("currency-countries", 10_000, 0)) == len(
        plain.get_task("currency-countries").examples("test"))


def test_measure_with_replayed_replies(private_cache):
    examples = plain.pick_questions("region-countries", 3, seed=0)
    canned = {e.problem + "\nAnswer with the name only.": ["I do not know.", f"That would be {e.answers[0][0]}."] for e in examples}
    rows, replies = plain.measure(ReplayBackend(canned), ["region-countries"], questions=3, samples=2)
    assert rows[0]["questions"] == 3 and rows[0]["pass@1"] == 0.5 and rows[0]["pass@2"] == 1.0
    assert [r["right"] for r in replies["region-countries"]] == [[False, True]] * 3


@pytest.mark.slow
def test_three_questions_on_the_tiny_model(tiny, private_cache, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(plain, "make_backend", lambda *args, **kwargs: make_backend(tiny, progress=False))
    out = tmp_path / "plain.json"
    argv = ["--model", "tiny", "--tasks", "currency-countries", "--questions", "3", "--samples", "2",
            "--max-new-tokens", "6", "--out", str(out)]
    assert plain.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| task | questions | pass@1 | pass@2 |") and lines[2].startswith("| currency-countries | 3 |")
    saved = plain.json.loads(out.read_text())
    assert len(saved["replies"]["currency-countries"]) == 3
    assert all(len(r["replies"]) == 2 for r in saved["replies"]["currency-countries"])
