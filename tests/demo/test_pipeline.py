import json

import pytest

from multianswer.cli import main
from multianswer.demo.pipeline import DEMO_METHODS, EVAL_TASKS, effect_table


@pytest.mark.slow
def test_quick_demo_runs_end_to_end_and_writes_every_artifact(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MULTIANSWER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    assert main(["demo", "--model", "quick", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "[6/6] comparison" in printed and "demo finished" in printed

    assert (out / "base" / "config.json").is_file()
    for method in DEMO_METHODS:  # every method trained through `multianswer train`'s code
        run = out / "train" / method
        assert (run / "final" / "config.json").is_file() and (run / "config.yaml").is_file()
        assert f"method: {method}" in (run / "config.yaml").read_text()
    for task in EVAL_TASKS:
        runs = sorted(p.name for p in (out / "eval" / task).iterdir())
        assert runs == ["base-3-samples", "base-multi-conf", "multi-rlcr", "multi-rlvr", "rlvr-3-samples"]
        for name in runs:
            summary = json.loads((out / "eval" / task / name / "summary.json").read_text())
            assert summary["n_questions"] == 4 and 0.0 <= summary["coverage"] <= 1.0
            assert (out / "eval" / task / name / "report.html").is_file()
        html = (out / "compare" / task / "compare.html").read_text()
        assert "<img" in html
        in_run_order = ["base-3-samples", "base-multi-conf", "rlvr-3-samples", "multi-rlvr", "multi-rlcr"]
        assert effect_table([out / "eval" / task / n for n in in_run_order]) in printed
    # the claims: every kind's a-c rows, the oracle rows on the known-distribution kind, in the file and on screen
    claims = json.loads((out / "claims.json").read_text())
    ids = [(c["kind"], c["id"]) for c in claims["claims"]]
    assert ("world-sets", "a.coverage") in ids and ("world-cases", "c.ece10") in ids and ("world-sets", "c.ece10") not in ids
    assert ("world-sets", "a.recall") in ids and ("world-cases", "a.recall") not in ids  # only with several valid answers
    assert {("world-sets", "a.training"), ("world-cases", "a.training"), ("world-cases", "c.gap")} <= set(ids)
    assert ("world-cases", "c.ece") not in ids  # replaced by c.gap and c.ece10
    assert ("world-cases", "d.oracle") in ids and isinstance(claims["all_hold"], bool)
    oracle = next(c for c in claims["claims"] if c["id"] == "d.oracle")
    assert 0.5 < oracle["value"] <= 1.0  # the sum of the top-3 true probabilities of the 4 questions
    assert "multi-rlvr coverage@3 >= rlvr pass@3" in printed and "## Claims" in (out / "report.md").read_text()
    # TRL's per-step dicts go to the run's files, not the terminal
    assert "'loss'" not in printed and "{'" not in printed
    assert (out / "train" / "rlvr" / "metrics.jsonl").is_file()
    meta = json.loads((out / "demo.json").read_text())
    assert meta["preset"]["rl_steps"] == 2

    # a second run finds every stage done and only re-evaluates from the saved results
    assert main(["demo", "--model", "quick", "--out", str(out), "--no-progress"]) == 0


def test_demo_rejects_bad_options(tmp_path, capsys):
    assert main(["demo", "--k", "1", "--out", str(tmp_path)]) == 2
    assert "--k must be at least 2" in capsys.readouterr().err


def test_set_changes_preset_fields_else_grpo_settings_and_names_bad_ones(tmp_path, capsys):
    from multianswer.demo.pipeline import PRESETS, preset_with

    preset = preset_with("tiny", ["rl_steps=300", "learning_rate=1e-3", "reward_over_draws=true", "temperature=1.0",
                                  "reward_weights=[0.5,0.5,2.0]", "lr_scheduler_type=constant"])
    assert (preset.rl_steps, preset.learning_rate, preset.reward_over_draws) == (300, 1e-3, True)
    assert preset.grpo == {"temperature": 1.0, "reward_weights": [0.5, 0.5, 2.0], "lr_scheduler_type": "constant"}
    assert PRESETS["tiny"].rl_steps == 100 and PRESETS["tiny"].grpo == {}  # the shipped preset is left as it was
    assert main(["demo", "--set", "rl_steps=many", "--out", str(tmp_path)]) == 2
    assert "--set rl_steps: expected a int like 100, got 'many'" in capsys.readouterr().err
    assert main(["demo", "--set", "rl_steps", "--out", str(tmp_path)]) == 2
    assert "--set takes key=value" in capsys.readouterr().err


def test_set_warmup_sets_share_takes_a_share_between_0_and_1(tmp_path, capsys):
    from multianswer.demo.pipeline import preset_with

    assert preset_with("tiny", ["warmup_sets_share=0.7"]).warmup_sets_share == 0.7
    for bad in ("1.5", "-0.1", "half"):
        assert main(["demo", "--set", f"warmup_sets_share={bad}", "--out", str(tmp_path)]) == 2
        assert "--set warmup_sets_share: expected a share between 0 and 1" in capsys.readouterr().err
