import json
import math
from types import SimpleNamespace

from multianswer.training.console import METRICS_FILE, QuietProgress


def test_logged_metrics_go_to_the_file_not_the_screen(tmp_path, capsys):
    callback = QuietProgress(tmp_path / "run")
    state = SimpleNamespace(is_world_process_zero=True, global_step=3, max_steps=10)
    args = SimpleNamespace(disable_tqdm=True)
    callback.on_train_begin(args, state, None)
    callback.on_log(args, state, None, logs={"loss": 0.5, "reward": math.nan, "rewards/format": 1.0})
    state.global_step = 4
    callback.on_step_end(args, state, None)
    callback.on_log(args, state, None, logs={"loss": 0.25})
    callback.on_train_end(args, state, None)
    rows = [json.loads(line) for line in (tmp_path / "run" / METRICS_FILE).read_text().splitlines()]
    assert rows == [{"step": 3, "loss": 0.5, "reward": None, "rewards/format": 1.0}, {"step": 4, "loss": 0.25}]
    captured = capsys.readouterr()
    assert "loss" not in captured.out + captured.err


def test_other_processes_write_nothing(tmp_path):
    callback = QuietProgress(tmp_path)
    state = SimpleNamespace(is_world_process_zero=False, global_step=1, max_steps=2)
    callback.on_log(SimpleNamespace(disable_tqdm=True), state, None, logs={"loss": 1.0})
    assert not (tmp_path / METRICS_FILE).exists()
