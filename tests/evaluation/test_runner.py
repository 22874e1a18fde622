"""Evaluation: metric aggregation on hand-computed cases, the results files, resume, and a tiny-model run."""

from __future__ import annotations

import json
import math

import pytest

from multianswer.cli import main
from multianswer.core.errors import UserError
from multianswer.evaluation.runner import EvalArgs, evaluate, read_rows
from multianswer.core.formats import format_completion
from multianswer.core.matching import get_verifier, register_verifier
from multianswer.core.scoring import VerifierFailure
from multianswer.generation.backends import Completion, HFBackend, ReplayBackend
from multianswer.tasks import Example, Task, register_task

# ---------------------------------------------------------------------------- a fixed task and its completions

PROBLEMS = {
    "capital": ("What is the capital of France?", ["Paris"]),
    "sum": ("What is 2 + 2?", [["4", "four"]]),
    "colors": ("Name a color of the French flag other than white.", ["red", "blue"]),
    "broken": ("What is x?", ["x"]),
}


def _load(split):
    return [Example(id=i, problem=p, answers=a) for i, (p, a) in PROBLEMS.items()]


register_task("eval-fixed", lambda: Task("eval-fixed", "hand-made questions", "tests", _load))

MC = "multi-conf"
MULTI_COMPLETIONS = {  # one K=3 generation per question, tokens chosen by hand
    "What is the capital of France?": [Completion(format_completion(["Lyon", "Paris", "Nice"], MC, [0.5, 0.3, 0.2]), 10)],
    "What is 2 + 2?": [Completion(format_completion(["4", "5", "6"], MC, [0.9, 0.05, 0.05]), 20)],
    "Name a color of the French flag other than white.": [
        Completion(format_completion(["green", "red", "blue"], MC, [0.6, 0.3, 0.1]), 30)
    ],
    "What is x?": [Completion("<answer1>x</answer1>", 40)],  # no <think>: the format fails
}


def single_conf(answer, p):
    return format_completion([answer], "single-conf", [p])


SINGLE_COMPLETIONS = {  # k=3 samples per question
    "What is the capital of France?": [single_conf("Paris", 0.8), single_conf("Lyon", 0.4), single_conf("Paris", 0.6)],
    "What is 2 + 2?": [single_conf("5", 0.5), single_conf("6", 0.5), "no tags at all"],
    "Name a color of the French flag other than white.": [
        single_conf("blue", 0.9), single_conf("red", 0.7), single_conf("blue", 0.9)
    ],
    "What is x?": [single_conf("y", 0.0)] * 3,
}


def run_fixed(tmp_path, fmt, completions, name="run", **kw):
    kw = {"task": "eval-fixed", "report": False} | kw
    kw = {"bootstrap": 200} | kw
    args = EvalArgs(model="replay", out=str(tmp_path / name), format=fmt, k=3, progress=False, **kw)
    return evaluate(args, backend=ReplayBackend(completions))


def test_multi_conf_metrics_match_hand_computation(tmp_path):
    s = run_fixed(tmp_path, MC, MULTI_COMPLETIONS)
    # by confidence: capital Lyon✗ Paris✓ Nice✗ | sum 4✓ 5✗ 6✗ | colors green✗ red✓ blue✓ | broken: no set
    assert s["n_questions"] == 4
    assert s["format_rate"] == 0.75
    assert s["top1"] == s["pass@1"] == (0 + 1 + 0 + 0) / 4
    assert s["pass@2"] == s["pass@3"] == (1 + 1 + 1 + 0) / 4
    assert s["coverage"] == 0.75
    assert s["distinct_correct"] == (1 + 1 + 2 + 0) / 4
    assert s["diversity"] == (3 + 3 + 3 + 0) / 4
    assert s["gold_recall"] == 1.0 and s["n_gold_sets"] == 1  # only 'colors' has two gold answers, both hit
    # Σ(p−y)² per parsed question: .25+.49+.04, .01+.0025+.0025, .36+.49+.81
    assert s["set_brier"] == pytest.approx((0.78 + 0.015 + 1.66) / 3)
    assert s["confidence_sum"] == pytest.approx(1.0)
    # ECE over 9 pairs, bins of 0.1, Σ |acc − conf| · count / 9:
    # {.05✗,.05✗}: .05·2, {.1✓}: .9, {.2✗}: .2, {.3✓,.3✓}: .7·2, {.5✗}: .5, {.6✗}: .6, {.9✓}: .1
    assert s["ece"] == pytest.approx((0.1 + 0.9 + 0.2 + 1.4 + 0.5 + 0.6 + 0.1) / 9)
    # AUROC: positives .3 .9 .3 .1 against negatives .5 .2 .05 .05 .6: 3 + 5 + 3 + 2 of 20 pairs
    assert s["auroc"] == pytest.approx(13 / 20)
    assert s["n_confidence_pairs"] == 9
    assert s["tokens_per_question"] == s["tokens_per_completion"] == (10 + 20 + 30 + 40) / 4


def test_single_conf_uses_unbiased_pass_at_k(tmp_path):
    s = run_fixed(tmp_path, "single-conf", SINGLE_COMPLETIONS)
    # correct samples c of n=3: capital 2, sum 0 (one sample unparsable), colors 3, broken 0
    # pass@1 = c/n; pass@2 = 1 − C(n−c,2)/C(3,2): capital 1 − 0/3 = 1
    assert s["pass@1"] == pytest.approx((2 / 3 + 0 + 1 + 0) / 4)
    assert s["pass@2"] == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert s["pass@3"] == s["coverage"] == 0.5
    assert s["format_rate"] == pytest.approx((1 + 2 / 3 + 1 + 1) / 4)
    assert s["distinct_correct"] == (1 + 0 + 2 + 0) / 4
    assert s["diversity"] == (2 + 2 + 2 + 1) / 4  # Paris/Lyon, 5/6, blue/red, y
    # set Brier sums over a question's samples: .04+.16+.16, .25+.25, .01+.09+.01, 0
    assert s["set_brier"] == pytest.approx((0.36 + 0.5 + 0.11 + 0.0) / 4)
    assert s["n_confidence_pairs"] == 3 + 2 + 3 + 3
    assert s["tokens_per_question"] == pytest.approx(3 * s["tokens_per_completion"])


def test_summary_matches_rows_and_intervals_hold_the_value(tmp_path):
    s = run_fixed(tmp_path, MC, MULTI_COMPLETIONS)
    rows = read_rows(tmp_path / "run" / "results.jsonl")
    assert len(rows) == s["n_questions"] == 4
    for key, metric in (("coverage", "coverage"), ("pass@2", "pass@2"), ("tokens_per_question", "tokens")):
        assert s[key] == pytest.approx(sum(r["metrics"][metric] for r in rows) / len(rows))
    for key in ("coverage", "top1", "set_brier", "ece", "auroc", "tokens_per_question"):
        lo, hi = s[f"{key}_ci"]
        assert lo <= s[key] + 1e-12 and s[key] <= hi + 1e-12
    row = next(r for r in rows if r["id"] == "colors")
    assert row["completions"][0]["answers"] == ["green", "red", "blue"]
    assert row["completions"][0]["correct"] == [False, True, True]
    assert row["completions"][0]["matched_gold"] == [None, 0, 1]
    assert row["prompt"][-1]["content"].startswith("Name a color") and row["tokens"] == 30
    saved = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert saved == s and saved["format"] == MC and saved["k"] == 3 and saved["backend"] == "replay"


def test_rerun_with_other_settings_is_refused(tmp_path):
    run_fixed(tmp_path, MC, MULTI_COMPLETIONS)
    with pytest.raises(UserError, match="temperature"):
        run_fixed(tmp_path, MC, MULTI_COMPLETIONS, temperature=0.0)


def test_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="samples"):
        run_fixed(tmp_path, "single", SINGLE_COMPLETIONS, samples=2)
    with pytest.raises(UserError, match="answer format"):
        run_fixed(tmp_path, "multiple", MULTI_COMPLETIONS)


def _crashes_on_paris(candidates, gold):
    if "Paris" in candidates:
        raise ValueError("bad gold layout")
    return get_verifier("match")(candidates, gold)


register_verifier("eval-test-crashes-on-paris", _crashes_on_paris)
register_task("eval-crashing", lambda: Task("eval-crashing", "a verifier that raises on Paris", "tests", lambda split: [
    Example(id=i, problem=p, answers=a, verifier="eval-test-crashes-on-paris") for i, (p, a) in PROBLEMS.items()
], verifier="eval-test-crashes-on-paris"))


def test_verifier_errors_are_counted_in_rows_summary_and_report(tmp_path):
    s = run_fixed(tmp_path, MC, MULTI_COMPLETIONS, task="eval-crashing", report=True)
    assert s["verifier_errors"] == 1  # 'capital' lists Paris: scored as wrong, and counted
    rows = {r["id"]: r for r in read_rows(tmp_path / "run" / "results.jsonl")}
    assert rows["capital"]["completions"][0]["verifier_error"] == "ValueError: bad gold layout"
    assert rows["capital"]["completions"][0]["correct"] == [False, False, False]
    assert rows["sum"]["completions"][0]["verifier_error"] is None
    assert s["coverage"] == 0.5  # sum and colors; capital would have been covered without the error
    assert "| verifier errors (scored as wrong) | 1 |" in (tmp_path / "run" / "report.md").read_text()


def test_a_systematically_failing_verifier_stops_the_evaluation(tmp_path):
    every = {p: [Completion(format_completion(["Paris", "b", "c"], "multi"), 5)] for p, _ in PROBLEMS.values()}
    every["What is x?"] = [Completion(format_completion(["Paris", "y", "z"], "multi"), 5)]
    with pytest.raises(VerifierFailure, match="raised on all 4 completions of this evaluation"):
        run_fixed(tmp_path, "multi", every, task="eval-crashing")


def test_torn_last_line_is_cut_and_bad_lines_named(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "compl')
    torn = path.read_text()
    assert [r["id"] for r in read_rows(path)] == ["a", "b"]
    assert path.read_text() == torn  # a reader (compare, report) never changes a run being written
    assert [r["id"] for r in read_rows(path, repair=True)] == ["a", "b"]
    assert path.read_text() == '{"id": "a"}\n{"id": "b"}\n'  # the resuming writer cuts the torn line
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(UserError, match="results.jsonl, line 2"):
        read_rows(path)


# ---------------------------------------------------------------------------- with the tiny model

def _load_numbers(split):
    return [Example(id=f"n{i}", problem=f"Name a number between {i} and {i + 3}.", answers=[str(i + 1), str(i + 2)])
            for i in range(7)]


register_task("eval-numbers", lambda: Task("eval-numbers", "numbers", "tests", _load_numbers))


class Interrupted(Exception):
    pass


class StopAfter:
    """A backend that dies (like a killed run) after `n` questions."""

    name = "hf"

    def __init__(self, inner, n):
        self.inner, self.n = inner, n

    def count_tokens(self, text):
        return self.inner.count_tokens(text)

    def stream(self, prompts, args, seed=0):
        for done, item in enumerate(self.inner.stream(prompts, args, seed)):
            if done == self.n:
                raise Interrupted
            yield item


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(tmp_path, tiny):
    def args(name, batch_size):
        return EvalArgs(model="tiny", task="eval-numbers", out=str(tmp_path / name), format="single", k=2,
                        samples=3, max_new_tokens=12, batch_size=batch_size, seed=7, bootstrap=100,
                        progress=False, report=False)

    full = evaluate(args("full", 6), backend=HFBackend(*tiny, batch_size=6, progress=False))
    with pytest.raises(Interrupted):
        evaluate(args("resumed", 3), backend=StopAfter(HFBackend(*tiny, batch_size=3, progress=False), 2))
    assert len(read_rows(tmp_path / "resumed" / "results.jsonl")) == 2
    with open(tmp_path / "resumed" / "results.jsonl", "a") as f:
        f.write('{"index": 5, "id": "n5", "tor')  # killed in the middle of a write
    resumed = evaluate(args("resumed", 3), backend=HFBackend(*tiny, batch_size=3, progress=False))
    assert resumed == full

    def by_id(name):
        return {r["id"]: r for r in read_rows(tmp_path / name / "results.jsonl")}

    assert by_id("resumed") == by_id("full")  # the same samples, though batched differently


@pytest.mark.slow
def test_eval_cli_end_to_end_on_tiny_model(tmp_path, capsys):
    out = tmp_path / "e2e"
    # procedural-sets: an offline task whose questions have several gold answers (gold-set recall)
    code = main(["eval", "--model", "tiny", "--task", "procedural-sets", "--format", "multi-conf", "--k", "3",
                 "--limit", "5", "--max-new-tokens", "16", "--batch-size", "4", "--bootstrap", "50", "--out", str(out)])
    assert code == 0
    assert "| coverage (any correct) |" in capsys.readouterr().out
    for name in ("run.json", "results.jsonl", "summary.json", "report.md", "report.html"):
        assert (out / name).is_file()
    s = json.loads((out / "summary.json").read_text())
    rows = read_rows(out / "results.jsonl")
    assert s["n_questions"] == len(rows) == 5 and s["model"] == "tiny" and s["backend"] == "hf"
    for key in ("format_rate", "coverage", "top1", "pass@1", "pass@2", "pass@3"):
        assert 0.0 <= s[key] <= 1.0
        assert s[key] == pytest.approx(sum(r["metrics"][key] for r in rows) / len(rows))
    assert s["pass@1"] <= s["pass@2"] <= s["pass@3"] <= s["coverage"] + 1e-12
    for key in ("set_brier", "ece", "auroc"):
        assert key in s and (s[key] is None or (isinstance(s[key], float) and not math.isnan(s[key])))
    for row in rows:
        comp = row["completions"][0]
        assert 1 <= comp["n_tokens"] <= 16 and row["tokens"] == comp["n_tokens"]
        assert comp["format_ok"] is (comp["reason"] == "ok")
    # a second run has nothing left to generate and writes the same summary
    assert main(["eval", "--model", "tiny", "--task", "procedural-sets", "--format", "multi-conf", "--k", "3",
                 "--limit", "5", "--max-new-tokens", "16", "--bootstrap", "50", "--out", str(out), "--no-report"]) == 0
    assert json.loads((out / "summary.json").read_text()) == s


def test_eval_cli_reports_user_errors(tmp_path, capsys):
    assert main(["eval", "--model", "tiny", "--task", "no-such-task", "--out", str(tmp_path)]) == 2
    assert "unknown task" in capsys.readouterr().err



def test_parser_rules_reach_the_eval_and_its_run_identity(tmp_path):
    """--require-analysis fails completions without an <analysis> block; a rerun with other rules is refused."""
    lenient = run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="lenient", bootstrap=0)
    strict = run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="strict", bootstrap=0, require_analysis=True)
    assert lenient["format_rate"] == 0.75 and strict["format_rate"] == 0.0  # none of them writes an analysis
    with pytest.raises(UserError, match="require_analysis: True -> False"):
        run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="strict", bootstrap=0)


def test_prompt_style_reaches_the_prompts_and_the_run_identity(tmp_path):
    """--prompt-style short puts the short system prompt in every row; a rerun with the other style is refused."""
    from multianswer.core.formats import FormatRules, system_prompt, with_rules

    short = run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="short", bootstrap=0, prompt_style="short")
    paper = run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="paper", bootstrap=0)
    assert short["format_rate"] == paper["format_rate"] == 0.75 and short["prompt_style"] == "short"
    rows = read_rows(tmp_path / "short" / "results.jsonl")
    assert rows[0]["prompt"][0]["content"] == system_prompt(with_rules(MC, FormatRules(prompt_style="short")), 3)
    with pytest.raises(UserError, match="prompt_style: 'short' -> 'paper'"):
        run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="short", bootstrap=0)
    # a run.json written before prompt styles existed holds a paper-style run: it resumes as one
    run_json = tmp_path / "paper" / "run.json"
    info = json.loads(run_json.read_text())
    del info["settings"]["prompt_style"]
    run_json.write_text(json.dumps(info))
    assert run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="paper", bootstrap=0)["format_rate"] == 0.75
    with pytest.raises(UserError, match="prompt_style: None -> 'short'"):
        run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="paper", bootstrap=0, prompt_style="short")
    with pytest.raises(UserError, match="unknown prompt style"):
        run_fixed(tmp_path, MC, MULTI_COMPLETIONS, name="bad", prompt_style="tiny")
