"""What a resumed run undoes and carries over, so that its files read like those of an uninterrupted run.

A run killed after step N resumes from its last complete checkpoint C <= N and replays steps
C+1..N. Before it does, the samples and TensorBoard events those steps already wrote are
removed: the replay writes them again, identically. The Trainer's end-of-run metrics cover
its own session only; `RunClock` keeps the seconds trained before C in the checkpoint and
puts the whole run's runtime and loss into the final log, the model card and TensorBoard.
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

from multianswer.training.monitor import keep_samples_through

EVENT_FILES = "events.out.tfevents.*"


def tensorboard_dir(output_dir: str | Path) -> Path:
    """The one TensorBoard folder of a run: every session writes there (the Trainer's default is one per session)."""
    return Path(output_dir) / "runs"


def forget_after(output_dir: str | Path, step: int) -> None:
    """Remove the samples and TensorBoard summaries written after `step` (0: a fresh run, all of them)."""
    keep_samples_through(output_dir, step)
    for path in sorted(tensorboard_dir(output_dir).rglob(EVENT_FILES)):
        trim_event_file(path, step)


def _records(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(record, payload) of each TFRecord (u64 length, u32 crc, payload, u32 crc); a torn last one ends it."""
    pos = 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        end = pos + 12 + length + 4
        if end > len(data):
            break
        yield data[pos:end], data[pos + 12:pos + 12 + length]
        pos = end


def trim_event_file(path: Path, step: int) -> None:
    """Keep the summaries of steps 1..`step` in one event file; a file left with none is removed.

    Step 0 holds a session's start records (its arguments, the model config), which the
    resumed session writes again. Whole records are copied, so their checksums stay valid.
    """
    from tensorboard.compat.proto.event_pb2 import Event

    kept, summaries = [], 0
    for record, payload in _records(path.read_bytes()):
        event = Event.FromString(payload)
        if event.HasField("summary"):
            if not 0 < event.step <= step:
                continue
            summaries += 1
        elif event.step > step:
            continue
        kept.append(record)
    if not summaries:
        path.unlink()
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"".join(kept))
    os.replace(tmp, path)


def pin_tensorboard_dir(callbacks: Sequence, output_dir: str | Path) -> None:
    """Point the Trainer's TensorBoard callback at `tensorboard_dir` (unless TENSORBOARD_LOGGING_DIR chose one)."""
    for callback in callbacks:
        if type(callback).__name__ == "TensorBoardCallback" and callback.logging_dir is None:
            callback.logging_dir = str(tensorboard_dir(output_dir))


def logged_loss_total(history: Sequence[dict]) -> float:
    """The sum of the per-step losses in a log history: each logged mean times the steps it covers.

    Exact when checkpoints fall on logging steps (logging_steps=1, the default): the Trainer
    keeps no record of steps trained after the last log before a checkpoint.
    """
    total, last_step = 0.0, 0
    for entry in history:
        if "loss" in entry:
            total += entry["loss"] * (entry["step"] - last_step)
            last_step = entry["step"]
    return total


class RunClock(TrainerCallback, ExportableState):
    """Seconds trained, saved in each checkpoint; turns a resumed session's final metrics into the whole run's.

    Put it first among the callbacks: it corrects the final log before TensorBoard and the printer see it.
    """

    def __init__(self):
        self.seconds_before = 0.0  # trained by earlier sessions up to the checkpoint resumed from
        self.steps_before = 0
        self.loss_before = 0.0
        self.started: float | None = None
        self.final: dict[str, float] = {}  # the whole run's end-of-run metrics, once training ends

    def seconds(self) -> float:
        """Seconds trained by the whole run so far."""
        return self.seconds_before + (time.time() - self.started if self.started is not None else 0.0)

    def state(self) -> dict:
        """What a checkpoint keeps (TrainerState.stateful_callbacks)."""
        return {"args": {}, "attributes": {"seconds_before": self.seconds()}}

    def on_train_begin(self, args, state, control, **kwargs):
        name = type(self).__name__
        saved = state.stateful_callbacks.get(name) or {}
        self.seconds_before = float(saved.get("attributes", {}).get("seconds_before", 0.0))
        state.stateful_callbacks[name] = self.state()  # a checkpoint written before this clock existed has none
        self.steps_before = state.global_step
        self.loss_before = logged_loss_total(state.log_history)
        self.started = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" not in logs:
            return
        self.final = whole_run_metrics(logs, state.global_step, self.steps_before, self.loss_before, self.seconds_before)
        logs.update(self.final)
        if state.log_history and "train_runtime" in state.log_history[-1]:
            state.log_history[-1].update(self.final)


def whole_run_metrics(session: dict, global_step: int, steps_before: int, loss_before: float,
                      seconds_before: float) -> dict[str, float]:
    """train_loss, train_runtime and the rates over all steps, from one session's metrics and what came before it."""
    if steps_before == 0:
        return {}
    steps_now = global_step - steps_before
    runtime = seconds_before + session["train_runtime"]
    out = {
        "train_runtime": round(runtime, 4),
        "train_loss": (loss_before + session["train_loss"] * steps_now) / max(global_step, 1),
        "train_steps_per_second": round(global_step / runtime, 3),
    }
    if steps_now and session.get("train_samples_per_second"):
        samples_per_step = session["train_samples_per_second"] * session["train_runtime"] / steps_now
        out["train_samples_per_second"] = round(samples_per_step * global_step / runtime, 3)
    return out
