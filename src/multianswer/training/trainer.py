"""`multianswer train`: GRPO on TRL with the rlvr, rlcr, multi-rlvr and multi-rlcr rewards.

    multianswer train --config configs/smollm2-cpu.yaml [key=value ...] [--resume]
    accelerate launch --config_file configs/accelerate/zero2.yaml -m multianswer.cli train --config ...
    (more launch commands, and one that starts a single process: docs/multi-process.md)

The output directory gets checkpoints (checkpoint-N, resumable with --resume, also after a
kill), the final model in final/ (merged, adapter only, or full weights), config.yaml,
samples.jsonl/.md, TensorBoard logs in runs/ and a README.md model card. A resumed run's
files read as an uninterrupted run's (training/resume.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from multianswer.training.config import TrainConfig, load_config
from multianswer.core.errors import UserError
from multianswer.core.formats import with_rules
from multianswer.core.outputs import check_output_dir
from multianswer.core.rewards import METHOD_FORMATS, build_rewards
from multianswer.training.monitor import RolloutMonitor, model_card, summarize
from multianswer.training.resume import RunClock, forget_after, pin_tensorboard_dir
from multianswer.training import warmup_sources

log = logging.getLogger(__name__)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class TrainResult:
    """What a run produced: where, how far it got, and its logged metrics."""

    output_dir: Path
    model_dir: Path  # the final model (merged, adapter, or full weights)
    global_step: int
    metrics: dict[str, float]  # the trainer's end-of-run metrics (train_loss, train_runtime, ...)
    history: list[dict[str, Any]]  # one entry per logging step
    model: Any = field(default=None, repr=False)  # the trained model in memory (a PeftModel with LoRA)

    def summary(self) -> dict[str, float | None]:
        """Seconds per step, rollout tokens/s, reward over the first and last 10 steps."""
        return summarize(self.history)


# ---------------------------------------------------------------------------- resolving the config


def resolve(cfg: TrainConfig) -> TrainConfig:
    """A copy with the machine-dependent 'auto' values decided: dtype, LoRA, bf16, output_dir."""
    from multianswer.models.loading import resolve_dtype

    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model),
        grpo=dict(cfg.grpo),
    )
    on_gpu = torch.cuda.is_available() and not cfg.grpo.get("use_cpu", False)
    device = "cuda" if on_gpu else "cpu"
    cfg.model.dtype = str(resolve_dtype(cfg.model.dtype, device)).removeprefix("torch.")
    if cfg.model.use_lora is None:
        cfg.model.use_lora = not on_gpu
    if "bf16" not in cfg.grpo:
        cfg.grpo["bf16"] = on_gpu and cfg.model.dtype == "bfloat16"
    if not on_gpu:
        cfg.grpo.setdefault("use_cpu", True)  # with several processes: gloo on CPU, not one run each
    if "activation_checkpointing" not in cfg.grpo and "gradient_checkpointing" not in cfg.grpo:
        cfg.grpo["activation_checkpointing"] = on_gpu  # saves GPU memory; on CPU it only costs time
    _check_reporters(cfg.grpo_kwargs().get("report_to"))
    if not cfg.grpo.get("output_dir"):
        name = Path(cfg.model.model.rstrip("/")).name
        task = re.sub(r"[^A-Za-z0-9_.-]+", "_", cfg.data.task)
        cfg.grpo["output_dir"] = str(Path("runs") / f"{name}-{cfg.method.method}-{task}")
    return cfg


def _check_reporters(report_to) -> None:
    """A missing logging backend is a one-line error, not a traceback from inside the trainer."""
    import importlib.util

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    for name in names:
        if name in ("tensorboard", "wandb", "mlflow", "trackio") and importlib.util.find_spec(name) is None:
            raise UserError(f"report_to: {name} is not installed (pip install {name}), or leave it out")


def grpo_config(cfg: TrainConfig, weights: list[float]):
    """TRL's GRPOConfig from a resolved config; TRL's own checks become UserErrors."""
    from trl import GRPOConfig

    kwargs = cfg.grpo_kwargs()
    kwargs.setdefault("reward_weights", weights)
    if len(kwargs["reward_weights"]) != len(weights):
        raise UserError(f"reward_weights: {cfg.method.method} has {len(weights)} rewards, got {kwargs['reward_weights']}")
    try:
        return GRPOConfig(**kwargs)
    except (ValueError, TypeError) as err:
        raise UserError(f"invalid training settings: {str(err).splitlines()[0]}") from None


def lora_config(cfg: TrainConfig):
    """The PEFT LoraConfig, or None for full fine-tuning."""
    if not cfg.model.use_lora:
        return None
    from peft import LoraConfig

    m = cfg.model
    return LoraConfig(
        task_type="CAUSAL_LM", r=m.lora_r, lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout,
        target_modules=m.lora_target_modules,
    )


def _checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in output_dir.glob("checkpoint-*") if (m := _CHECKPOINT.match(p.name))]
    return sorted(found)


def last_complete_checkpoint(output_dir: Path) -> Path | None:
    """The newest checkpoint whose trainer_state.json was written (the Trainer writes it last)."""
    complete = [p for _, p in _checkpoints(output_dir) if (p / "trainer_state.json").is_file()]
    return complete[-1] if complete else None


def _resume_point(output_dir: Path, resume: bool, is_main: bool) -> str | None:
    """The checkpoint to resume from; half-written ones (from a kill mid-save) are removed."""
    existing = _checkpoints(output_dir) if output_dir.is_dir() else []
    if not resume:
        if existing:
            raise UserError(
                f"{output_dir} already has checkpoints; pass --resume to continue, or set another output_dir"
            )
        return None
    last = last_complete_checkpoint(output_dir) if existing else None
    if last is None:
        raise UserError(f"--resume: no complete checkpoint in {output_dir}")
    if is_main:
        for step, path in existing:
            if step > int(_CHECKPOINT.match(last.name).group(1)):
                log.warning("removing %s: it was not completely written", path)
                shutil.rmtree(path, ignore_errors=True)
    return str(last)


# ---------------------------------------------------------------------------- training


def drop_long_prompts(dataset, tokenizer, max_tokens: int):
    """The rows whose templated prompt fits in `max_tokens` (TRL no longer truncates prompts)."""
    from multianswer.models.context import prompt_tokens

    def fits(row) -> bool:
        return prompt_tokens(tokenizer, row["prompt"]) <= max_tokens

    kept = dataset.filter(fits)
    if len(kept) < len(dataset):
        log.warning("left out %d of %d examples longer than %d prompt tokens", len(dataset) - len(kept), len(dataset), max_tokens)
    if len(kept) == 0:
        raise UserError(f"max_prompt_length: every prompt is longer than {max_tokens} tokens")
    return kept


def method_rewards(cfg: TrainConfig) -> tuple[list, list[float]]:
    """The reward functions and weights of the config's method."""
    m = cfg.method
    return build_rewards(m.method, m.k, m.correctness, m.require_sum_le_one, m.uniqueness_weight, rules=m.format_rules(),
                         duplicates_zero=m.duplicates_zero)


def method_prompts(cfg: TrainConfig):
    """The method's format (carrying the parser rules the prompt states), the task, and candidates per completion."""
    from multianswer.tasks import get_task

    fmt = with_rules(METHOD_FORMATS[cfg.method.method], cfg.method.format_rules())
    return fmt, get_task(cfg.data.task), fmt.answers_per_completion(cfg.method.k)


def build_trainer(cfg: TrainConfig, args=None, warm_up: bool = True, rewards: tuple[list, list[float]] | None = None):
    """The GRPOTrainer for a resolved config, with our rewards (built here unless given), data set, LoRA and callbacks."""
    from multianswer.models.loading import load_model
    from multianswer.tasks import to_grpo_dataset

    funcs, weights = rewards if rewards is not None else method_rewards(cfg)
    args = args if args is not None else grpo_config(cfg, weights)
    fmt, task, k = method_prompts(cfg)
    _check_fits_context(cfg, task, args.max_completion_length)  # first: a huge K builds gigabytes of prompts
    dataset = to_grpo_dataset(task, cfg.data.split, fmt, k, cfg.data.limit, label_draws=cfg.method.reward_over_draws)
    eval_dataset = to_grpo_dataset(task, cfg.data.eval_split, fmt, k, cfg.data.eval_limit) if cfg.data.eval_split else None
    model, tokenizer = load_model(cfg.model.model, dtype=cfg.model.dtype, device="cpu")
    tokenizer.padding_side = "left"
    if cfg.data.max_prompt_length:
        dataset = drop_long_prompts(dataset, tokenizer, cfg.data.max_prompt_length)
        if eval_dataset is not None:
            eval_dataset = drop_long_prompts(eval_dataset, tokenizer, cfg.data.max_prompt_length)
    peft_config = lora_config(cfg)
    if warm_up and cfg.warmup.format_warmup_steps:
        model, stats = warmup_sources.warm_up(cfg, model, tokenizer, dataset, peft_config, args.seed)
        peft_config = None  # the adapter exists already and carries on into GRPO
        if args.process_index == 0:
            warmup_sources.write_stats(args.output_dir, stats)  # for the model card, also after a resume
    monitor = RolloutMonitor(args.output_dir, args.reward_weights, cfg.log.samples_per_log)
    from multianswer.training.rollouts import RefillGRPOTrainer  # GRPOTrainer with slot-refill rollouts

    trainer = RefillGRPOTrainer(
        model=model,
        reward_funcs=monitor.wrap(funcs),
        args=args,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[monitor],
        rollout_slots=cfg.rollout.rollout_slots,
        shared_prefix=cfg.rollout.shared_prefix,
        group_by_length=cfg.rollout.group_by_length,
        merge_lora_for_rollouts=cfg.rollout.merge_lora_for_rollouts,
    )
    trainer.callback_handler.callbacks.insert(0, RunClock())  # first: it corrects the final log for the others
    pin_tensorboard_dir(trainer.callback_handler.callbacks, args.output_dir)
    if not cfg.log.console_metrics:
        from multianswer.training.console import quiet_console

        quiet_console(trainer, args.output_dir)
    return trainer


def _check_fits_context(cfg: TrainConfig, task, completion_tokens: int) -> None:
    """Prompts plus max_completion_length fit the model's context: checked before building the data set."""
    from multianswer.models.context import check_fits_context, context_length

    model, limit = cfg.model.model, cfg.data.max_prompt_length
    if limit:  # longer prompts are left out, so the setting itself is the bound
        context = context_length(model)
        if context is not None and limit + completion_tokens > context:
            raise UserError(f"max_prompt_length {limit} + max_completion_length {completion_tokens} do not fit "
                            f"the {context:,}-token context of {model}")
        return
    examples = task.examples(cfg.data.split, cfg.data.limit)
    check_fits_context(model, task, examples, method_prompts(cfg)[0], cfg.method.k, completion_tokens)


def warn_single_process_launch(env: Mapping[str, str]) -> str | None:
    """Warn when the launcher was asked for several processes but started only this one; returns the warning."""
    # `accelerate launch --cpu --num_processes N` takes accelerate's one-process launcher: for N > 1 it sets
    # MASTER_ADDR but not WORLD_SIZE, which the launchers that do start N processes (torchrun, --multi_gpu) set
    if not ("ACCELERATE_USE_CPU" in env and "MASTER_ADDR" in env and "WORLD_SIZE" not in env):
        return None
    message = (
        "accelerate launch was asked for several processes but started only this one (with --cpu, or with neither "
        "--multi_gpu nor a config file, it runs one), so this run trains alone; for N processes on CPU use "
        "`accelerate launch --config_file "
        "configs/accelerate/cpu-2proc.yaml --num_processes N -m multianswer.cli train ...` or `torchrun "
        "--nproc_per_node N -m multianswer.cli train ...` (docs/multi-process.md)"
    )
    log.warning(message)
    return message


def save_warmed_base(cfg: TrainConfig, out: Path) -> Path:
    """Save to `out` the model after the format warm-up alone (where GRPO would start), LoRA merged in."""
    from multianswer.models.loading import build_atomically, load_model
    from multianswer.tasks import to_grpo_dataset

    cfg = resolve(cfg)
    fmt, task, k = method_prompts(cfg)
    dataset = to_grpo_dataset(task, cfg.data.split, fmt, k, cfg.data.limit)
    model, tokenizer = load_model(cfg.model.model, dtype=cfg.model.dtype, device="cpu")
    seed = grpo_config(cfg, method_rewards(cfg)[1]).seed
    model, stats = warmup_sources.warm_up(cfg, model, tokenizer, dataset, lora_config(cfg), seed)  # the same seed as train()
    if cfg.model.use_lora:
        model = model.merge_and_unload()

    def save(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        warmup_sources.write_stats(folder, stats)

    return build_atomically(out, save)  # a killed save leaves no half-written model behind


def _save_final(trainer, cfg: TrainConfig, out: Path) -> str:
    """Save the final model to `out`: merged LoRA, adapter alone, or full weights. Returns which."""
    trainer.save_model(str(out))
    if not cfg.model.use_lora:
        return "full fine-tune"
    if not cfg.model.merge_adapter:
        return f"LoRA adapter (r={cfg.model.lora_r}) over {cfg.model.model}"
    trainer.accelerator.wait_for_everyone()
    if trainer.accelerator.is_main_process:
        # Reload the base and the saved adapter: works the same after DeepSpeed or FSDP wrapping
        from peft import PeftModel

        from multianswer.models.loading import load_model

        base, tokenizer = load_model(cfg.model.model, dtype=cfg.model.dtype, device="cpu")
        merged = PeftModel.from_pretrained(base, str(out)).merge_and_unload()
        for name in ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json"):
            (out / name).unlink(missing_ok=True)
        merged.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    return f"LoRA (r={cfg.model.lora_r}) merged into {cfg.model.model}"


def train(cfg: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Train with GRPO as `cfg` says; with `resume`, continue from the last complete checkpoint."""
    warn_single_process_launch(os.environ)
    cfg = resolve(cfg)
    check_output_dir(cfg.grpo["output_dir"], "output_dir")
    rewards = method_rewards(cfg)
    args = grpo_config(cfg, rewards[1])  # sets up the (distributed) state before anything else
    output_dir = Path(args.output_dir)
    is_main = args.process_index == 0
    checkpoint = _resume_point(output_dir, resume, is_main)
    trainer = build_trainer(cfg, args, warm_up=checkpoint is None, rewards=rewards)  # a checkpoint holds warmed weights
    if is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        cfg.dump(output_dir / "config.yaml")
        # the steps after the checkpoint run again: what they logged before the kill goes (a fresh run: all)
        forget_after(output_dir, int(_CHECKPOINT.match(Path(checkpoint).name).group(1)) if checkpoint else 0)
    trainer.accelerator.wait_for_everyone()
    out = trainer.train(resume_from_checkpoint=checkpoint)
    clock = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, RunClock))
    metrics = {**out.metrics, **clock.final}  # a resumed session's own metrics, made the whole run's

    model_dir = output_dir / "final"
    weights = _save_final(trainer, cfg, model_dir)
    history = list(trainer.state.log_history)
    if is_main:
        card = model_card(cfg.to_dict(), history, metrics, weights, warmup_sources.read_stats(output_dir))
        for folder in (output_dir, model_dir):
            (folder / "README.md").write_text(card)
        cfg.dump(model_dir / "config.yaml")
    trainer.accelerator.wait_for_everyone()
    model = trainer.accelerator.unwrap_model(trainer.model)
    return TrainResult(output_dir, model_dir, trainer.state.global_step, metrics, history, model)


# ---------------------------------------------------------------------------- command line


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `multianswer train`."""
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML config (see configs/); keys as in --show-keys")
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value",
        help="override a config key, e.g. k=4 learning_rate=1e-5 model.lora_r=8 (value read as YAML)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint in output_dir")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    parser.add_argument("--show-keys", action="store_true", help="list our config keys with their help and exit")


def _show_keys() -> str:
    from multianswer.training.config import GRPO_DEFAULTS, SECTIONS

    lines = []
    for section, cls in SECTIONS.items():
        lines.append(f"{section}:")
        for f in dataclasses.fields(cls):
            lines.append(f"  {f.name} = {f.default!r}\n      {f.metadata.get('help', '')}")
    lines.append("grpo: any field of trl.GRPOConfig; defaults of the paper's recipe:")
    lines += [f"  {k} = {v!r}" for k, v in GRPO_DEFAULTS.items()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run `multianswer train`."""
    if args.show_keys:
        print(_show_keys())
        return 0
    if args.config is None and not args.overrides:
        raise UserError("give --config FILE.yaml and/or key=value overrides (at least task=NAME)")
    cfg = load_config(args.config, args.overrides)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(resolve(cfg).to_dict(), sort_keys=False), end="")
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = train(cfg, resume=args.resume)
    s = result.summary()
    print(f"trained {result.global_step} steps; final model in {result.model_dir}")
    if s["reward_first10"] is not None:
        print(f"reward: first 10 steps {s['reward_first10']:.3f}, last 10 steps {s['reward_last10']:.3f}")
    return 0
