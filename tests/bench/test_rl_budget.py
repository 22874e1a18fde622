"""bench/rl_budget.py: the rollouts' trend, the held-out figures against the base's run, and a missing base."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("rl_budget", ROOT / "bench" / "rl_budget.py")
rl_budget = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rl_budget)


def _run(folder: Path, sets: list[tuple[str, list[str], float]], coverage: float) -> Path:
    """A run directory with one answer set per question: (id, answers, coverage)."""
    folder.mkdir(parents=True)
    rows = [{"id": i, "completions": [{"format_ok": True, "answers": a}], "metrics": {"coverage": c}} for i, a, c in sets]
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "summary.json").write_text(json.dumps({"format": "multi", "coverage": coverage}))
    return folder


def test_held_out_figures_by_hand(tmp_path):
    run = _run(tmp_path / "run", [("q1", ["a", "b", "c"], 1.0), ("q2", ["a", "a", "b"], 1.0), ("q3", ["x", "y", "z"], 0.0),
                                  ("q4", ["x", "y", "x"], 0.0)], 0.5)
    base = _run(tmp_path / "base", [("q1", ["a", "b", "c"], 0.0), ("q2", ["a", "b", "c"], 1.0), ("q3", ["a", "b", "c"], 0.0),
                                    ("q4", ["a", "b", "c"], 0.0), ("q5", ["a", "b", "c"], 1.0)], 0.4)
    r = rl_budget.held_out(run, base)
    assert r["coverage"] == 0.5
    assert r["gain"] == pytest.approx(0.25)  # paired over q1-q4 only: (1 + 0 + 0 + 0) / 4
    assert r["interval"][0] <= 0.25 <= r["interval"][1]
    assert r["repeats"] == pytest.approx(0.5)  # q2 and q4 repeat a candidate


def test_rollout_trend_is_first_fifth_against_last_fifth(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    lines = [{"step": s, "reward": float(s)} for s in range(1, 11)] + [{"train_runtime": 1.0}]
    metrics.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert rl_budget.rollout_trend(metrics, "reward") == (1.5, 9.5)  # steps 1-2 and 9-10


def test_a_demo_folder_without_a_base_is_a_clear_error(tmp_path, capsys):
    assert rl_budget.main(["--demo", str(tmp_path), "--try", "a", "rl_steps=1"]) == 2
    assert "multianswer demo --out" in capsys.readouterr().err
