"""What a training run writes besides TRL's metrics: rollout speed, sampled completions, a model card.

`RolloutMonitor` wraps the reward functions (keeping their names, which TRL uses for metric
keys) to see each scored batch, and is a TrainerCallback: it logs rollout time and tokens/s,
and completions trained per minute, through TRL's `log_metric` hook and appends a few
completions per logging step to samples.jsonl and samples.md in the output directory.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from multianswer.core.scoring import completion_text


def _problem_text(prompt: Any) -> str:
    """The user turn of a conversational prompt (the system prompt is the same for every row)."""
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        prompt = users[-1] if users else completion_text(prompt)
    return " ".join(str(prompt).split())


class RolloutMonitor(TrainerCallback):
    """Times rollouts and records the latest scored batch; writes sampled completions at each log."""

    def __init__(self, output_dir: str | Path, weights: Sequence[float], samples_per_log: int = 4):
        self.output_dir = Path(output_dir)
        self.weights = list(weights)
        self.samples_per_log = samples_per_log
        self._step_started = time.perf_counter()
        self._batch: dict[str, Any] | None = None
        self._written_step = -1
        self._last_rollout: tuple[float, int] | None = None  # (when, completions) of the previous generation
        self._world_size = 1

    def wrap(self, funcs: Sequence[Callable]) -> list[Callable]:
        """The reward functions, each recording its scores; the first also times the rollout."""
        return [self._wrap_one(fn, first=(i == 0)) for i, fn in enumerate(funcs)]

    def _wrap_one(self, fn: Callable, first: bool) -> Callable:
        @functools.wraps(fn)
        def reward(prompts=None, completions=(), completion_ids=None, log_metric=None, **kwargs):
            if first:
                self._on_rollout(prompts, completions, completion_ids, kwargs.get("answers"), log_metric)
            scores = fn(prompts=prompts, completions=completions, log_metric=log_metric, **kwargs)
            if self._batch is not None:
                self._batch["rewards"][fn.__name__] = list(scores)
            return scores

        return reward

    def _on_rollout(self, prompts, completions, completion_ids, answers, log_metric) -> None:
        seconds = time.perf_counter() - self._step_started
        tokens = sum(len(ids) for ids in completion_ids) if completion_ids is not None else 0
        if log_metric is not None and tokens:
            log_metric("rollout/seconds", seconds)
            log_metric("rollout/completion_tokens", float(tokens))
            log_metric("rollout/tokens_per_s", tokens / max(seconds, 1e-9))
        started = time.perf_counter() - seconds  # this rollout's start
        if log_metric is not None and self._last_rollout is not None:
            # one generation cycle = generating a batch + every optimizer step that trains on it: from the
            # previous rollout's start to this one's (not to this one's end, which would count a rollout twice)
            previous, n = self._last_rollout
            log_metric("train/completions_per_minute", 60.0 * n * self._world_size / max(started - previous, 1e-9))
        self._last_rollout = (started, len(completions))
        self._batch = {"prompts": prompts or [], "completions": completions, "answers": answers, "rewards": {}}

    # ------------------------------------------------------------------ TrainerCallback

    def on_train_begin(self, args, state, control, **kwargs):
        self._world_size = args.world_size

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or self.samples_per_log == 0 or self._batch is None:
            return
        if state.global_step == self._written_step:
            return
        self._written_step = state.global_step
        samples = self._pick_samples(state.global_step)
        if samples:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with open(self.output_dir / "samples.jsonl", "a", encoding="utf-8") as f:
                for s in samples:
                    f.write(json.dumps(s, ensure_ascii=False) + "\n")
            with open(self.output_dir / "samples.md", "a", encoding="utf-8") as f:
                f.write(samples_markdown(samples))

    def _pick_samples(self, step: int) -> list[dict]:
        """Up to `samples_per_log` completions, one per distinct prompt first."""
        b = self._batch
        n = len(b["completions"])
        seen, order = set(), []
        for i in range(n):
            key = _problem_text(b["prompts"][i]) if i < len(b["prompts"]) else i
            if key not in seen:
                seen.add(key)
                order.append(i)
        order += [i for i in range(n) if i not in order]
        out = []
        for i in order[: self.samples_per_log]:
            rewards = {name: float(values[i]) for name, values in b["rewards"].items() if i < len(values)}
            total = sum(w * r for w, r in zip(self.weights, rewards.values()))
            out.append({
                "step": step,
                "problem": _problem_text(b["prompts"][i]) if i < len(b["prompts"]) else "",
                "gold": b["answers"][i] if b["answers"] is not None else None,
                "completion": completion_text(b["completions"][i]),
                "rewards": rewards,
                "reward": total,
            })
        return out


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: Any) -> str:
    """`text` with control characters (NUL, ESC, CR, ...) written as \\xNN, so viewers do not take it for binary."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def samples_markdown(samples: Sequence[dict]) -> str:
    """Sampled completions as a readable Markdown section."""
    if not samples:
        return ""
    lines = [f"## step {samples[0]['step']}\n"]
    for s in samples:
        rewards = ", ".join(f"{k} {v:.2f}" for k, v in s["rewards"].items())
        lines.append(f"**problem:** {printable(s['problem'])}  \n**gold:** {printable(s['gold'])}  \n"
                     f"**reward:** {s['reward']:.3f} ({rewards})\n")
        lines.append("```\n" + printable(s["completion"]).replace("```", "ʼʼʼ") + "\n```\n")
    return "\n".join(lines) + "\n"


def keep_samples_through(output_dir: str | Path, step: int) -> None:
    """Keep the samples of steps up to `step` (0: none) and write samples.md anew from them.

    A run resumed from checkpoint `step` replays the steps after it and writes their samples
    again; without this they would appear twice. A line torn by a kill mid-write is dropped.
    """
    folder = Path(output_dir)
    rows = []
    path = folder / "samples.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else ():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row["step"] <= step:
            rows.append(row)
    if not rows:
        for name in ("samples.jsonl", "samples.md"):
            (folder / name).unlink(missing_ok=True)
        return
    sections = (samples_markdown(list(group)) for _, group in itertools.groupby(rows, key=lambda r: r["step"]))
    _replace(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    _replace(folder / "samples.md", "".join(sections))


def _replace(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file and a rename: a kill leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- summaries


def _mean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarize(history: Sequence[dict]) -> dict[str, float | None]:
    """Seconds per step, rollout tokens/s, completions trained per minute, reward over the first and last 10 logged steps."""
    steps = [h for h in history if "reward" in h]
    rewards = [h["reward"] for h in steps]
    return {
        "steps_logged": float(len(steps)),
        "seconds_per_step": _mean([h.get("step_time") for h in steps]),
        "rollout_tokens_per_s": _mean([h.get("rollout/tokens_per_s") for h in steps]),
        "completions_per_minute": _mean([h.get("train/completions_per_minute") for h in steps]),
        "completion_tokens_mean": _mean([h.get("completions/mean_length") for h in steps]),
        "reward_first10": _mean(rewards[:10]),
        "reward_last10": _mean(rewards[-10:]),
    }


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def model_card(config: dict, history: Sequence[dict], train_metrics: dict, final_format: str,
               warmup: dict | None = None) -> str:
    """README.md text: what was trained, how, and how it ended (`warmup`: the format warm-up's statistics)."""
    model, method, data = config["model"], config["method"], config["data"]
    grpo = config["grpo"]
    last = next((h for h in reversed(history) if "reward" in h), {})
    summary = summarize(history)
    k_line = f"K = {method['k']} candidates per completion" if method["method"].startswith("multi") else "one answer per completion"
    rows = [("method", method["method"]), ("K", method["k"]), ("task", f"{data['task']} ({data['split']})"),
            ("base model", model["model"]), ("weights", final_format)]
    if config.get("warmup", {}).get("format_warmup_steps"):
        rows.append(("format warm-up steps", config["warmup"]["format_warmup_steps"]))
    rows += [(f"format warm-up {k}", v) for k, v in (warmup or {}).items() if k != "steps" and v is not None]
    if method.get("prompt_style", "paper") != "paper":
        rows.append(("prompt style", method["prompt_style"]))
    rows += [(k, grpo[k]) for k in ("learning_rate", "num_generations", "max_completion_length", "temperature",
                                    "beta", "loss_type", "scale_rewards") if k in grpo]
    metric_keys = sorted(k for k in last if k.startswith(("reward", "rewards/", "answer_set/", "completions/mean_length")))
    lines = [
        f"# {model['model']} trained with {method['method']} on {data['task']}",
        "",
        f"Trained with `multianswer train` (GRPO on TRL): {k_line}. "
        "The resolved configuration is in `config.yaml` next to this file.",
        "",
        "| setting | value |", "|---|---|", *(f"| {k} | {_fmt(v)} |" for k, v in rows),
        "",
        "## Final training metrics",
        "",
        "| metric | value |", "|---|---|",
        *(f"| {k} | {_fmt(v)} |" for k, v in train_metrics.items()),
        *(f"| {k} (last step) | {_fmt(last[k])} |" for k in metric_keys),
        *(f"| {k} | {_fmt(v)} |" for k, v in summary.items() if v is not None),
        "",
    ]
    return "\n".join(lines)
