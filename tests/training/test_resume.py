"""What a resumed run removes and carries over: samples, TensorBoard events, whole-run metrics, launch warnings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from multianswer.training.monitor import keep_samples_through, samples_markdown
from multianswer.training.resume import logged_loss_total, trim_event_file, whole_run_metrics
from multianswer.training.trainer import warn_single_process_launch

REPO = Path(__file__).resolve().parents[2]


def _sample(step: int, completion: str = "<answer1>4</answer1>") -> dict:
    return {"step": step, "problem": "2 + 2?", "gold": ["4"], "completion": completion,
            "rewards": {"format": 1.0}, "reward": 1.0}


def test_samples_markdown_escapes_control_characters():
    text = samples_markdown([_sample(7, "a\x00b\tc\r\nd\x1b[0m```")])
    assert text == (
        "## step 7\n\n"
        "**problem:** 2 + 2?  \n**gold:** ['4']  \n**reward:** 1.000 (format 1.00)\n\n"
        "```\na\\x00b\tc\\x0d\nd\\x1b[0mʼʼʼ\n```\n\n"
    )


def test_keep_samples_through_a_step_drops_later_and_torn_rows(tmp_path):
    rows = [_sample(1), _sample(1, "x"), _sample(2), _sample(3)]
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "pro')
    (tmp_path / "samples.md").write_text("stale")
    keep_samples_through(tmp_path, 2)
    kept = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert kept == rows[:3]
    assert (tmp_path / "samples.md").read_text() == samples_markdown(rows[:2]) + samples_markdown(rows[2:3])
    keep_samples_through(tmp_path, 0)  # a fresh run
    assert not (tmp_path / "samples.jsonl").exists() and not (tmp_path / "samples.md").exists()


def _events(path: Path) -> list[tuple[str, int]]:
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    return [(v.tag, e.step) for e in map(Event.FromString, RawEventFileLoader(str(path)).Load()) for v in e.summary.value]


def test_trim_event_file_keeps_steps_up_to_the_checkpoint(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    writer.add_text("args", "{}")  # a session's start record, at step 0
    for step in range(1, 5):
        writer.add_scalar("train/loss", 1.0 / step, step)
    writer.close()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    with open(path, "ab") as f:
        f.write(b"\x20\x00\x00\x00\x00\x00\x00\x00\x01\x02")  # a record torn by a kill
    trim_event_file(path, 2)
    assert _events(path) == [("train/loss", 1), ("train/loss", 2)]  # read back by TensorBoard: checksums hold
    trim_event_file(path, 0)
    assert not path.exists()


def test_whole_run_metrics_add_the_sessions_before_the_checkpoint():
    # losses 0.2 (step 1) and 0.3 (mean of steps 2-3, logged at 3): 0.2 + 2 * 0.3
    history = [{"loss": 0.2, "step": 1}, {"reward": 1.0, "step": 1}, {"loss": 0.3, "step": 3}]
    assert logged_loss_total(history) == pytest.approx(0.8)
    # a session of steps 4-5 that took 30 s at 2 samples/s (60 samples, 30 a step), after 20 s for steps 1-3
    session = {"train_runtime": 30.0, "train_loss": 0.5, "train_samples_per_second": 2.0, "total_flos": 1.0}
    whole = whole_run_metrics(session, global_step=5, steps_before=3, loss_before=0.8, seconds_before=20.0)
    assert whole == {"train_runtime": 50.0, "train_loss": pytest.approx((0.8 + 0.5 * 2) / 5),
                     "train_steps_per_second": 0.1, "train_samples_per_second": 3.0}
    assert whole_run_metrics(session, 5, 0, 0.0, 0.0) == {}  # an uninterrupted run's own metrics hold


def test_single_process_launch_is_detected_from_the_launcher_environment():
    # what `accelerate launch --cpu --num_processes 2` exports: MASTER_ADDR for N > 1, never WORLD_SIZE
    one_of_two = {"ACCELERATE_USE_CPU": "True", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}
    assert "started only this one" in warn_single_process_launch(one_of_two)
    assert warn_single_process_launch({**one_of_two, "WORLD_SIZE": "2", "RANK": "0"}) is None  # ranks started
    assert warn_single_process_launch({"ACCELERATE_USE_CPU": "True"}) is None  # --num_processes 1
    assert warn_single_process_launch({}) is None  # plain python


@pytest.mark.slow
def test_accelerate_cpu_launch_of_two_processes_warns(tmp_path):
    pytest.importorskip("accelerate")
    taken = tmp_path / "file"
    taken.write_text("")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
         "-m", "multianswer.cli", "train", "model=tiny", "task=procedural-sets", f"output_dir={taken}"],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert "started only this one" in done.stderr and "cpu-2proc.yaml" in done.stderr
    assert f"output_dir {taken}: is a file" in done.stderr  # then the run goes on as one process
