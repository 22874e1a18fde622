"""A quiet terminal for training: one progress bar, and the per-step metrics in a file instead of the screen.

Transformers prints every logged metrics dict on the terminal (ProgressCallback when bars are
on, PrinterCallback when off). With `log.console_metrics: false` those two are replaced by
`QuietProgress`: a bar with the time left, and each logged dict appended to
OUTPUT_DIR/metrics.jsonl. TensorBoard (`report_to`) and trainer_state.json are untouched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from tqdm.auto import tqdm
from transformers import PrinterCallback, ProgressCallback, TrainerCallback

METRICS_FILE = "metrics.jsonl"


class QuietProgress(TrainerCallback):
    """A GRPO-step progress bar (time left included) that writes logged metrics to a file, not the screen."""

    def __init__(self, output_dir: str | Path, desc: str = "GRPO steps"):
        self.path = Path(output_dir) / METRICS_FILE
        self.desc = desc
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.desc, unit="step",
                            leave=False, dynamic_ncols=True, disable=args.disable_tqdm)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        row = {"step": state.global_step, **{k: _finite(v) for k, v in logs.items()}}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _finite(value):
    """JSON has no NaN or infinity: those become None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def quiet_console(trainer, output_dir: str | Path) -> None:
    """Swap the trainer's printing callbacks for `QuietProgress`."""
    for callback in (ProgressCallback, PrinterCallback):
        trainer.remove_callback(callback)
    trainer.add_callback(QuietProgress(output_dir))
