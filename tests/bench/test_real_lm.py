"""bench/real_lm.py: a few-step run of the whole script on the tiny model, and its table."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("real_lm", ROOT / "bench" / "real_lm.py")
real_lm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_lm)

SMOKE = ["format_warmup_steps=2", "max_steps=2", "save_steps=1", "max_completion_length=16", "report_to=[]",
         "num_generations=2", "per_device_train_batch_size=4", "logging_steps=1"]


@pytest.mark.slow
def test_few_steps_of_every_stage_then_a_resumed_rerun_reuses_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MULTIANSWER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bench"
    argv = ["--config", str(ROOT / "configs" / "tiny-cpu.yaml"), "--out", str(out), "--eval-limit", "2", *SMOKE]
    assert real_lm.main(argv) == 0
    printed = capsys.readouterr().out
    task = out / "procedural-draws"
    for base in ("base", "base-single"):
        assert (task / base / "config.json").is_file()
    # the base's K samples are asked of the single-answer warm-up (rlvr's start), its K answers of the multi-conf one
    plan = {name: model for name, model, _ in real_lm.eval_plan(3)}
    assert plan["base-3-samples"] == "base-single" and plan["base-multi-conf"] == "base"
    for method in real_lm.METHODS:
        assert (task / "train" / method / "final" / "config.json").is_file()
        assert f"method: {method}" in (task / "train" / method / "config.yaml").read_text()
    runs = [name for name, _, _ in real_lm.eval_plan(3)]
    assert runs == ["base-3-samples", "base-multi-conf", "rlvr-3-samples", "multi-rlvr", "multi-rlcr"]
    for name in runs:
        assert json.loads((task / "eval" / name / "summary.json").read_text())["n_questions"] == 2
    table = (task / "table.md").read_text()
    assert table.count("\n| ") == 1 + len(runs) and table.split("\n\n")[1] in printed  # header + one row per run
    claims = {c["id"] for c in json.loads((task / "claims.json").read_text())["claims"]}
    assert {"a.coverage", "a.tokens", "a.training", "b.collapse", "c.brier", "c.coverage"} <= claims

    # a re-run trains nothing and evaluates nothing again: every stage is found finished
    assert real_lm.main(argv) == 0
    log = (task / "bench.log").read_text()
    assert log.count(": rlvr: 2 steps") == 1 and log.count("multi-rlcr: 2 steps") == 1 and log.count("base: multi-rlcr's format warm-up") == 1
    assert log.count("base-single: rlvr's format warm-up") == 1
    assert log.count("eval multi-rlcr: 2 questions") == 2


def _write_run(d: Path, fmt: str, **summary) -> Path:
    d.mkdir(parents=True)
    (d / "results.jsonl").write_text("")
    (d / "summary.json").write_text(json.dumps({"format": fmt, "k": 3, "n_questions": 10, **summary}))
    return d


def test_table_prices_multi_runs_against_k_single_samples(tmp_path):
    single = _write_run(tmp_path / "rlvr-3-samples", "single", **{"pass@3": 0.5, "coverage": 0.5, "tokens_per_completion": 20.0,
                        "tokens_per_question": 60.0, "format_rate": 1.0})
    multi = _write_run(tmp_path / "multi-rlvr", "multi", coverage=0.6, tokens_per_completion=30.0,
                       tokens_per_question=30.0, format_rate=0.9, ece=None)
    base = _write_run(tmp_path / "base-3-samples", "single", **{"pass@3": 0.2, "tokens_per_completion": 40.0})
    lines = real_lm.table([base, single, multi]).splitlines()
    del lines[2]  # the base's row: multi runs are priced against rlvr's samples, not the first single run
    # columns: coverage@K, distinct correct, distinct answers, top-1, Brier, ECE, tokens/question, token ratio, format
    assert lines[2] == "| rlvr-3-samples | 0.500 | n/a | n/a | n/a | n/a | n/a | 60.000 | 1.000 | 1.000 |"
    assert lines[3] == "| multi-rlvr | 0.600 | n/a | n/a | n/a | n/a | n/a | 30.000 | 0.500 | 0.900 |"  # 30 / (3 x 20)
    assert "10 held-out questions, K = 3" in lines[-1]
