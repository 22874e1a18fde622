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


def test_summary_row_pass_at_1_pass_at_k_and_distinct_answers():
    scores = [plain.PlainScore([True, False, True, False], 2), plain.PlainScore([False] * 4, 0)]
    row = plain.summary_row("t", scores, 4)
    assert row == {"task": "t", "questions": 2, "pass@1": 0.25, "pass@4": 0.5, "distinct_right": 1.0,
                   "distinct_right_solved": 2.0}
    assert math.isnan(plain.summary_row("t", scores[1:], 4)["distinct_right_solved"])
    table = plain.markdown_table([row], 4)
    assert table.splitlines()[0].startswith("| task | questions | pass@1 | pass@4 |")
    assert table.splitlines()[2] == "| t | 2 | 0.250 | 0.500 | 1.00 | 2.00 |"


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
