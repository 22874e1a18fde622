"""The paper recipe's training options on the tiny model: the reference's format rules and a held-out eval split."""

from __future__ import annotations

import json

import pytest

from test_trainer import TASK, _overrides, tune_tiny_for_format  # noqa: E402  (tests/training is on sys.path)


@pytest.mark.slow
def test_format_rules_reach_the_rewards_and_eval_runs_on_the_held_out_split(tmp_path):
    from multianswer.training.config import load_config
    from multianswer.training.trainer import train

    # the tuned model writes multi-conf without an <analysis> block: every completion fails require_analysis
    base = tune_tiny_for_format("multi-rlcr", tmp_path / "tiny")
    overrides = _overrides(base, tmp_path / "run", "multi-rlcr", require_analysis=True, strict_confidence=True,
                           eval_split="test", eval_limit=4, eval_strategy="steps", eval_steps=1,
                           per_device_eval_batch_size=8, samples_per_log=2)
    result = train(load_config(None, overrides))

    train_steps = [h for h in result.history if "loss" in h]
    evals = [h for h in result.history if "eval_loss" in h or any(k.startswith("eval_rewards/") for k in h)]
    assert len(train_steps) == 2 and len(evals) == 2  # one evaluation after each of the two steps
    assert all(h["rewards/format/mean"] == 0.0 for h in train_steps)
    assert all(h["eval_rewards/format/mean"] == 0.0 for h in evals)
    samples = [json.loads(line) for line in (result.output_dir / "samples.jsonl").read_text().splitlines()]
    assert samples and all(s["rewards"]["format"] == 0.0 for s in samples)
    assert TASK in (result.output_dir / "README.md").read_text()
