"""The rollout monitor's timing figures, on a clock the test moves by hand."""

from __future__ import annotations

from types import SimpleNamespace

from multianswer.training import monitor as monitor_module
from multianswer.training.monitor import RolloutMonitor


def test_completions_per_minute_is_one_generation_batch_over_the_time_from_rollout_start_to_rollout_start(
        tmp_path, monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(monitor_module.time, "perf_counter", lambda: clock["now"])
    mon = RolloutMonitor(tmp_path, weights=[1.0])
    mon.on_train_begin(SimpleNamespace(world_size=1), None, None)
    logged = {}

    def log_metric(name, value):
        logged[name] = value

    def step(begins_at: float, rollout_seconds: float):
        clock["now"] = begins_at
        mon.on_step_begin(None, None, None)
        clock["now"] = begins_at + rollout_seconds
        mon._on_rollout(["p"] * 32, ["c"] * 32, [[1, 2]] * 32, None, log_metric)

    step(0.0, 10.0)  # rollout 0-10 s, training 10-40 s
    assert "train/completions_per_minute" not in logged and logged["rollout/seconds"] == 10.0
    step(40.0, 20.0)  # the next cycle starts at 40 s: 32 completions per 40 s, whatever this rollout takes
    assert logged["train/completions_per_minute"] == 48.0
    assert logged["rollout/tokens_per_s"] == 64 / 20.0
