"""What the format warm-up keeps: plain pass@K before (scored by the evaluation code), in-format coverage@K after."""

from __future__ import annotations

import pytest

from multianswer.core.formats import AnswerFormat, format_completion
from multianswer.evaluation.warmup_keeps import (
    PLAIN_THINK, KeepsArgs, as_single_completion, keeps_figures, keeps_table, plain_rows, plain_summary,
)
from multianswer.generation.base import BackendBase, Completion, SamplingArgs
from multianswer.tasks import Example, Task, register_task
from multianswer.training.config import load_config

CAPITALS = {"France": ["Paris"], "Peru": ["Lima"], "Chad": [["N'Djamena", "Ndjamena"]]}
register_task("keeps-capitals", lambda: Task("keeps-capitals", "capitals", "tests", lambda split: [
    Example(c, f"What is the capital of {c}?", golds) for c, golds in CAPITALS.items()]))
SAID = {  # 4 plain replies per country
    "France": ["The capital is Paris.", "Paris", "Lyon, I think", "I am not sure."],
    "Peru": ["Cusco.", "Cusco", "Arequipa", "The capital of Peru is Cusco."],
    "Chad": ["Ndjamena", "The capital is N'Djamena.", "Ndjamena!", "Ndjamena"],
}


class Plain(BackendBase):
    """Answers each capital question with its list of replies (and counts words as tokens)."""

    name = "plain"

    def count_tokens(self, text):
        return len(text.split())

    def stream(self, prompts, args, seed=0):
        for i, messages in enumerate(prompts):
            country = messages[-1]["content"].split(" of ")[1].split("?")[0]
            yield i, [Completion(r, len(r.split())) for r in SAID[country][: args.n]]


def test_a_reply_becomes_a_one_answer_completion_or_stays_unparsable():
    assert as_single_completion("The capital is Paris.") == format_completion(["Paris"], "single", think=PLAIN_THINK)
    assert as_single_completion("I am not sure.") == "I am not sure."  # no answer: it fails the format


def test_plain_pass_at_k_is_scored_by_the_evaluation_code():
    from multianswer.tasks import get_task

    examples = get_task("keeps-capitals").examples("test")
    rows = plain_rows(Plain(), examples, 3, SamplingArgs(4, 0.7, 1.0, 16), "Answer with the name only.", 0)
    assert [r["id"] for r in rows] == ["France", "Peru", "Chad"] and rows[0]["replies"] == SAID["France"]
    assert rows[0]["prompt"] == [{"role": "user", "content": "What is the capital of France?\nAnswer with the name only."}]
    # France 2 of 4 right, Peru 0, Chad 4 (aliases); pass@3 from 4 samples: 1, 0, 1; pass@1: 0.5, 0, 1
    assert [r["metrics"]["pass@3"] for r in rows] == [1.0, 0.0, 1.0]
    assert [r["metrics"]["pass@1"] for r in rows] == [0.5, 0.0, 1.0]
    assert rows[0]["metrics"]["format_rate"] == 0.75  # one reply had no answer in it

    cfg = load_config(None, ["task=keeps-capitals", "model=tiny", "k=3", "temperature=0.7"])
    summary = plain_summary(cfg, Plain(), examples, KeepsArgs(limit=None, plain_samples=4, bootstrap=50))
    assert summary["pass@3"] == pytest.approx(2 / 3) and summary["pass@1"] == pytest.approx(0.5)
    assert summary["format"] is AnswerFormat.SINGLE and summary["samples"] == 4 and summary["plain"]


def test_figures_and_table():
    before = {"pass@3": 0.5, "pass@3_ci": [0.3, 0.7]}
    after = {"format": AnswerFormat.MULTI_CONF, "k": 3, "coverage": 0.25, "coverage_ci": [0.1, 0.4],
             "format_rate": 0.9, "tokens_per_completion": 40.0}
    f = keeps_figures(before, after, 3)
    assert (f["plain_pass_at_k"], f["coverage_at_k"], f["kept"], f["format_rate"]) == (0.5, 0.25, 0.5, 0.9)
    assert f["coverage_at_k_ci"] == [0.1, 0.4]
    single = {"format": AnswerFormat.SINGLE, "k": 3, "pass@3": 0.4, "pass@3_ci": [0.2, 0.6], "format_rate": 1.0,
              "tokens_per_completion": 30.0}
    assert keeps_figures(before, single, 3)["coverage_at_k"] == 0.4
    assert keeps_figures({"pass@3": 0.0}, after, 3)["kept"] is None
    table = keeps_table({"own": f}, 3).splitlines()
    assert table[0].startswith("| warm-up source | plain pass@3 before | in-format coverage@3 after")
    assert table[2] == "| own | 0.500 [0.300, 0.700] | 0.250 [0.100, 0.400] | 0.900 | 0.500 |"


@pytest.mark.slow
def test_warmup_keeps_on_the_tiny_model(tmp_path):
    from multianswer.evaluation.warmup_keeps import warmup_keeps

    cfg = load_config(None, ["task=procedural-sets", "model=tiny", "method=multi-rlcr", "k=2", "format_warmup_steps=1",
                             "format_warmup_batch_size=4", "format_warmup_samples=8", "max_completion_length=12",
                             "limit=20", "report_to=[]", "method.prompt_style=short"])
    figures = warmup_keeps(cfg, tmp_path, KeepsArgs(limit=3, batch_size=8, bootstrap=20), ("own", "borrowed"))
    assert set(figures) == {"own", "borrowed"} and (tmp_path / "keeps.json").is_file()
    for f in figures.values():
        assert 0.0 <= f["plain_pass_at_k"] <= 1.0 and 0.0 <= f["coverage_at_k"] <= 1.0
    summary = (tmp_path / "own" / "eval" / "summary.json").read_text()
    assert '"prompt_style": "short"' in summary and '"n_questions": 3' in summary
