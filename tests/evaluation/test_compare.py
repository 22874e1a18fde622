"""`multianswer compare`: side-by-side table, coverage at equal k and the token ratio, written files."""

from __future__ import annotations

import pytest

from multianswer.cli import main
from multianswer.evaluation.compare import comparison, cost_rows, markdown_table
from multianswer.core.errors import UserError
from multianswer.evaluation.runner import EvalArgs, evaluate
from multianswer.core.formats import format_completion
from multianswer.generation.backends import Completion, ReplayBackend
from multianswer.tasks import Example, Task, register_task

QUESTIONS = [("c1", "Capital of France?", ["Paris"]), ("c2", "Capital of Italy?", ["Rome"])]
register_task("compare-fixed", lambda: Task("compare-fixed", "capitals", "tests",
                                            lambda split: [Example(i, p, a) for i, p, a in QUESTIONS]))


@pytest.fixture()
def runs(tmp_path):
    # multi-conf K=3: 30 tokens per generation; France covered (2nd), Italy missed
    multi = {
        "Capital of France?": [Completion(format_completion(["Lyon", "Paris", "Nice"], "multi-conf", [0.5, 0.4, 0.1]), 30)],
        "Capital of Italy?": [Completion(format_completion(["Milan", "Turin", "Naples"], "multi-conf", [0.5, 0.3, 0.2]), 30)],
    }
    # single, 3 samples of 20 tokens: France 1 of 3 correct, Italy 0 of 3
    single = {
        "Capital of France?": [Completion(format_completion([a], "single"), 20) for a in ("Paris", "Lyon", "Lyon")],
        "Capital of Italy?": [Completion(format_completion([a], "single"), 20) for a in ("Milan", "Milan", "Turin")],
    }
    dirs = []
    for name, fmt, completions in (("multi", "multi-conf", multi), ("single", "single", single)):
        out = tmp_path / name
        evaluate(EvalArgs(model="replay", task="compare-fixed", out=str(out), format=fmt, k=3, bootstrap=50,
                          progress=False, report=False), backend=ReplayBackend(completions))
        dirs.append(out)
    return dirs


def test_equal_k_coverage_and_token_ratio(runs):
    names, rows, summaries = comparison(runs)
    assert names == ["multi", "single"]
    table = dict(rows)
    assert table["coverage at k=3 (multi: coverage, single: pass@3)"] == ["0.500", "0.500"]
    # multi: 30 tokens for K=3 answers; single: 3 samples × 20 tokens = 60; ratio 30 / 60
    assert table["generated tokens for k=3 answers"] == ["30.0", "60.0"]
    assert table["token ratio: multi / 3 single samples"] == ["0.500", "—"]
    # single pass@1 = mean(1/3, 0): unbiased estimator over the 3 samples
    assert table["pass@1"][1].startswith("0.167")
    assert cost_rows(summaries[0], 3, summaries[1])["token_ratio"] == pytest.approx(0.5)
    md = markdown_table(names, rows)
    assert md.splitlines()[0] == "| | multi | single |"


def test_compare_cli_prints_and_writes(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| token ratio: multi / 3 single samples | 0.500 | — |" in printed
    assert "token ratio" in (out / "compare.md").read_text()
    html = (out / "compare.html").read_text()
    assert html.count('<img class="plot"') == 1 and "data:image/png;base64," in html
    assert (out / "compare_coverage_tokens.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_of_a_non_run_is_a_user_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path)]) == 2
    assert "not an evaluation directory" in capsys.readouterr().err
    with pytest.raises(UserError):
        comparison([tmp_path / "missing"])
