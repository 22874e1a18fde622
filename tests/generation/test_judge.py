"""The LLM judge verifier: its prompt and verdict rule, its cache, and an eval judged by a real served SmolLM2."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from multianswer.cli import main
from multianswer.evaluation.runner import EvalArgs, evaluate
from multianswer.generation.backends import ReplayBackend
from multianswer.generation.judge import SYSTEM_PROMPT, JudgeVerifier, connect_judge, is_yes, judge_messages
from multianswer.generation.openai import ChatClient, ServerError, ServerSettings


@pytest.mark.parametrize("reply, verdict", [
    ("YES", True), ("Yes.", True), ("yes, it matches", True), ("NO", False), ("No.", False),
    ("eyes", False), ("yesterday", False), ("", False), ("The answer is correct", False),
])
def test_verdict_is_the_word_yes(reply, verdict):
    assert is_yes(reply) is verdict


@given(st.text(alphabet=st.characters(blacklist_categories=("L", "N", "Pc")), max_size=5), st.sampled_from(["yes", "YES", "Yes"]))
def test_yes_between_non_word_characters_is_always_a_yes(around, word):
    assert is_yes(around + word + around)


def test_prompt_is_the_references_with_question_gold_and_candidate():
    system, user = judge_messages("Capital of France?", [["Paris", "Paname"]], "paris")
    assert system == {"role": "system", "content": SYSTEM_PROMPT} and "'YES'" in SYSTEM_PROMPT
    assert user["content"] == ('Question: Capital of France?\nGround Truth Answers: [["Paris", "Paname"]]\n'
                               "Model Generated Answer: paris")


@pytest.mark.slow
def test_verdicts_are_cached_on_disk_and_not_asked_again(served_smollm2, proxy, tmp_path):
    cache = tmp_path / "judge_cache.jsonl"
    settings = ServerSettings(proxy.base_url, served_smollm2.model)
    judge = connect_judge(settings, cache)
    verdicts = judge(["Paris", "Lyon", "Paris"], ["Paris"], question="What is the capital of France?")
    assert len(verdicts) == 3 and verdicts[0] == verdicts[2]
    assert proxy.forwarded == 1 + 2  # the check, then two distinct candidates
    entries = [json.loads(line) for line in cache.read_text().splitlines()]
    assert len(entries) == 2 and all(e["verdict"] is is_yes(e["reply"]) for e in entries)
    again = JudgeVerifier(ChatClient(settings), cache)  # a resumed run: verdicts come from the file
    assert again(["Lyon", "Paris"], ["Paris"], question="What is the capital of France?") == verdicts[1::-1]
    assert proxy.forwarded == 3
    other_question = again(["Paris"], ["Paris"], question="Which city is in Texas?")
    assert len(other_question) == 1 and proxy.forwarded == 4  # the question is part of the key


@pytest.mark.slow
def test_eval_with_the_judge_reports_its_disagreement_with_match(served_smollm2, proxy, tmp_path):
    task = tmp_path / "qa.jsonl"
    question = "What is the capital of France?"
    task.write_text(json.dumps({"id": "q", "question": question, "answers": ["Paris"]}) + "\n")
    # fixed completions (generated elsewhere), judged by the served model: match says yes, yes, no
    texts = [f"<think>t</think><answer>{a}</answer>" for a in ("Paris", "The Paris.", "Lyon")]
    args = EvalArgs(model="replayed", task=f"jsonl:{task}", out=str(tmp_path / "run"), format="single", k=3,
                    bootstrap=0, report=False, progress=False, verifier="judge",
                    judge_model=served_smollm2.model, judge_base_url=proxy.base_url)
    summary = evaluate(args, backend=ReplayBackend({question: texts}))
    [row] = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert row["verifier"] == "judge" and [c["match_correct"] for c in row["completions"]] == [[True], [True], [False]]
    judge_says = [c["correct"][0] for c in row["completions"]]
    assert summary["n_judged_candidates"] == 3
    assert summary["judge_match_disagreement"] == sum(j != m for j, m in zip(judge_says, [True, True, False])) / 3
    cache = [json.loads(line) for line in (tmp_path / "run" / "judge_cache.jsonl").read_text().splitlines()]
    assert sorted(e["verdict"] for e in cache) == sorted(judge_says) and proxy.forwarded == 1 + 3


@pytest.mark.slow
def test_a_judge_that_fails_stops_the_eval_instead_of_scoring_zero(served_smollm2, proxy, tmp_path):
    task = tmp_path / "qa.jsonl"
    task.write_text(json.dumps({"id": "q", "question": "Capital of France?", "answers": ["Paris"]}) + "\n")
    proxy.pass_first, proxy.fail_first, proxy.status = 1, 100, 500  # the check passes, every verdict fails
    args = EvalArgs(model="replayed", task=f"jsonl:{task}", out=str(tmp_path / "run"), format="single", k=1,
                    bootstrap=0, report=False, progress=False, verifier="judge", retries=0,
                    judge_model=served_smollm2.model, judge_base_url=proxy.base_url)
    with pytest.raises(ServerError, match=r"HTTP 500: injected failure; .*run again to resume"):
        evaluate(args, backend=ReplayBackend({"Capital of France?": ["<think>t</think><answer>Paris</answer>"]}))
    assert (tmp_path / "run" / "results.jsonl").read_text() == ""


def test_eval_asks_for_a_judge_model_before_loading_anything(tmp_path, capsys):
    task = tmp_path / "qa.jsonl"
    task.write_text(json.dumps({"question": "Q?", "answers": ["A"], "verifier": "judge"}) + "\n")
    code = main(["eval", "--model", "tiny", "--task", f"jsonl:{task}", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith("verifier 'judge' needs --judge-model and a server: --judge-base-url (or --base-url)")


def test_an_unknown_verifier_is_one_line_before_loading_anything(tmp_path, capsys):
    task = tmp_path / "qa.jsonl"
    task.write_text(json.dumps({"question": "Q?", "answers": ["A"]}) + "\n")
    code = main(["eval", "--model", "no-such-model-dir", "--task", f"jsonl:{task}", "--out", str(tmp_path / "run"),
                 "--verifier", "jduge"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("multianswer eval: error: unknown verifier 'jduge'; registered:")
