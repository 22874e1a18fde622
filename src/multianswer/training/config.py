"""Training configuration: our argument groups plus any GRPOConfig field, from YAML and key=value overrides.

A YAML file holds keys flat (`k: 3`, `learning_rate: 1e-5`) or grouped by section
(`model:`, `method:`, `data:`, `warmup:`, `log:`, `rollout:`, `grpo:`); overrides are `key=value` or `section.key=value`,
the value read as YAML (`true`, `[q_proj, v_proj]`, `null`). Every key is checked: an unknown
one is an error naming the closest valid key.

    model   ModelArgs   which model, its dtype, LoRA or full fine-tuning
    method  MethodArgs  rlvr, rlcr, multi-rlvr or multi-rlcr, K and reward options
    data    DataArgs    which task and split, how many examples
    warmup  WarmupArgs  optional supervised format steps before GRPO (small models)
    log     LogArgs     sampled completions written per logging step
    rollout RolloutArgs how completions are decoded (slot refill or TRL's generate)
    grpo    any field of TRL's GRPOConfig, over GRPO_DEFAULTS (the paper's recipe, docs/method.md)
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from multianswer.core.errors import UserError
from multianswer.core.formats import PROMPT_STYLES, FormatRules
from multianswer.core.rewards import CORRECTNESS_MODES, METHODS
from multianswer.training.warmup_args import WarmupArgs


@dataclass
class ModelArgs:
    """Which model to train and how (LoRA adapter or all weights)."""

    model: str = field(default="smollm2", metadata={"help": "Hugging Face id, local directory, 'smollm2' or 'tiny'."})
    dtype: str = field(default="auto", metadata={"help": "Weights dtype: auto (fp32 on CPU, bf16 on CUDA), fp32, bf16, fp16."})
    use_lora: bool | None = field(
        default=None, metadata={"help": "Train a LoRA adapter instead of all weights (default: yes on CPU, no on GPU)."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: list[str] | str = field(
        default="all-linear", metadata={"help": "Modules that get adapters: 'all-linear' or a list of names."}
    )
    merge_adapter: bool = field(
        default=True, metadata={"help": "Save the final model with the LoRA adapter merged in (else the adapter alone)."}
    )


@dataclass
class MethodArgs:
    """The training method and its reward."""

    method: str = field(default="multi-rlcr", metadata={"help": f"One of {', '.join(METHODS)}."})
    k: int = field(default=3, metadata={"help": "Candidates per completion for the multi methods (ignored by rlvr/rlcr)."})
    correctness: str = field(
        default="any", metadata={"help": "Multi-RLVR correctness: 'any' candidate right, or 'count' of distinct right / K."}
    )
    require_sum_le_one: bool = field(
        default=True, metadata={"help": "Multi-RLCR: the Brier reward is 0 unless the confidences sum to at most 1."}
    )
    uniqueness_weight: float = field(
        default=0.0, metadata={"help": "Weight of an extra reward for distinct candidates (0 = off, as in the paper)."}
    )
    duplicates_zero: bool | None = field(
        default=None,
        metadata={"help": "Correctness is 0 when candidates repeat (default: only in confidence formats, as the reference)."},
    )
    reward_over_draws: bool = field(
        default=False,
        metadata={"help": "When the data holds several drawn labels per question (the column label_draws, as world-cases' "
                          "training split), each reward is the mean over them; off: each row's own label, as in the paper."},
    )
    require_analysis: bool = field(
        default=False,
        metadata={"help": "Confidence formats fail without a non-empty <analysis> block (the reference's rule; on in the paper configs)."},
    )
    strict_confidence: bool = field(
        default=False,
        metadata={"help": "Confidences must be plain decimals in [0, 1]: '60%' fails (the reference's rule; on in the paper configs)."},
    )
    prompt_style: str = field(
        default="paper",
        metadata={"help": "System prompt of training, warm-up and evaluation: 'paper' (the paper's, ~200 tokens for multi-conf "
                          "K=3) or 'short' (the same tags in <= 60 tokens with SmolLM2's tokenizer, for small models)."},
    )

    def format_rules(self) -> FormatRules:
        """The parser rules and prompt style these options ask for."""
        return FormatRules(self.require_analysis, self.strict_confidence, self.prompt_style)


@dataclass
class DataArgs:
    """The training data."""

    task: str = field(default="", metadata={"help": "Registered task name, 'jsonl:PATH' or 'hf:NAME' (required)."})
    split: str = field(default="train", metadata={"help": "Split of the task to train on."})
    limit: int | None = field(default=None, metadata={"help": "Use only the first N examples of the split."})
    max_prompt_length: int | None = field(
        default=None, metadata={"help": "Leave out examples whose chat prompt is longer than this many tokens."}
    )
    eval_split: str | None = field(
        default=None,
        metadata={"help": "Held-out split scored during training (with eval_strategy/eval_steps); none when unset."},
    )
    eval_limit: int | None = field(
        default=None, metadata={"help": "Score only the first N examples of eval_split (the reference: 100)."}
    )


@dataclass
class LogArgs:
    """What is written next to the metrics."""

    samples_per_log: int = field(
        default=4, metadata={"help": "Sampled completions written to samples.jsonl/.md per logging step (0 = none)."}
    )
    console_metrics: bool = field(
        default=True, metadata={"help": "Print each logged metrics dict on the terminal (false: a progress bar, the dicts in metrics.jsonl)."}
    )


@dataclass
class RolloutArgs:
    """How GRPO generates and scores its completions on the transformers path (training/rollouts.py, shared_prefix.py)."""

    rollout_slots: int = field(
        default=32,
        metadata={"help": "Sequences decoded together with slot refill and the shared prompt prefix computed once "
                          "(0 = TRL's padded model.generate)."},
    )
    shared_prefix: bool = field(
        default=True,
        metadata={"help": "Training pass: compute the prompt prefix the rows share, and each question's prompt, once "
                          "per step with gradients (false = TRL's per-row pass; same loss up to float rounding)."},
    )
    group_by_length: bool = field(
        default=True,
        metadata={"help": "Train a generation batch in micro-batches of similar completion length (less padding); "
                          "only where the order changes no gradient (dapo/grpo/dr_grpo/cispo loss, one optimizer step "
                          "per generation batch)."},
    )
    merge_lora_for_rollouts: bool = field(
        default=True,
        metadata={"help": "Merge the LoRA adapter into the weights while slot-refill rollouts decode (one matrix "
                          "product per layer instead of three), unmerged after, as TRL does for vLLM."},
    )


SECTIONS: dict[str, type] = {
    "model": ModelArgs, "method": MethodArgs, "data": DataArgs, "warmup": WarmupArgs, "log": LogArgs,
    "rollout": RolloutArgs,
}
GRPO_SECTION = "grpo"

# The reference recipe (docs/method.md, "Training recipe"); batch sizes and lengths come from the config file.
GRPO_DEFAULTS: dict[str, Any] = {
    "beta": 0.0,
    "scale_rewards": "none",
    "loss_type": "dapo",
    "temperature": 0.7,
    "top_p": 1.0,
    "epsilon": 0.2,
    "num_iterations": 1,
    "learning_rate": 1e-6,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.05,
    "num_train_epochs": 1.0,
    "logging_steps": 1,
    "save_steps": 200,
    "report_to": ["tensorboard"],
    "remove_unused_columns": False,
}


@dataclass
class TrainConfig:
    """Everything `multianswer train` needs: the argument groups and the GRPOConfig fields."""

    model: ModelArgs = field(default_factory=ModelArgs)
    method: MethodArgs = field(default_factory=MethodArgs)
    data: DataArgs = field(default_factory=DataArgs)
    warmup: WarmupArgs = field(default_factory=WarmupArgs)
    log: LogArgs = field(default_factory=LogArgs)
    rollout: RolloutArgs = field(default_factory=RolloutArgs)
    grpo: dict[str, Any] = field(default_factory=dict)  # GRPOConfig fields set by the user

    def grpo_kwargs(self) -> dict[str, Any]:
        """GRPOConfig keyword arguments: the recipe defaults, then the user's values."""
        return {**GRPO_DEFAULTS, **self.grpo}

    def to_dict(self) -> dict[str, Any]:
        """A nested plain dict that `load_config` reads back to the same config."""
        out = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        out[GRPO_SECTION] = self.grpo_kwargs()
        return out

    def dump(self, path: str | Path) -> None:
        """Write the config as YAML."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


# ---------------------------------------------------------------------------- keys and types


def grpo_fields() -> dict[str, Any]:
    """GRPOConfig field names -> type hints (imports TRL)."""
    from trl import GRPOConfig

    hints = typing.get_type_hints(GRPOConfig)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(GRPOConfig) if f.init and not f.name.startswith("_")}


def _our_fields() -> dict[str, tuple[str, dataclasses.Field, Any]]:
    """Flat key -> (section, field, type hint) for our argument groups."""
    out = {}
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            out[f.name] = (section, f, hints[f.name])
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """`value` checked against the type hint `tp` (ints widen to floats; '1e-6' strings become floats)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(value, option, key)
            except UserError:
                continue
        raise UserError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        choices = [e.value for e in tp]
        if value in choices:
            return value
        raise UserError(f"{key}: expected one of {', '.join(map(str, choices))}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-6 as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list or tp is list:
        if isinstance(value, list):
            return [coerce(v, args[0], key) for v in value] if args else value
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            return value
    else:
        return value  # a type we do not check (TRL validates its own)
    raise UserError(f"{key}: expected {_type_name(tp)}, got {value!r}")


# ---------------------------------------------------------------------------- reading


def _yaml_lines(text: str) -> dict[str, int]:
    """'key' and 'section.key' -> line number in the YAML text (for error messages)."""
    lines: dict[str, int] = {}
    root = yaml.compose(text)
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key_node, value_node in root.value:
        lines[str(key_node.value)] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode):
            for sub_key, _ in value_node.value:
                lines[f"{key_node.value}.{sub_key.value}"] = sub_key.start_mark.line + 1
    return lines


def _flatten(data: dict, where: str, lines: dict[str, int]) -> list[tuple[str, Any, str]]:
    """(key, value, where) triples; section blocks become 'section.key'."""
    items = []
    for key, value in data.items():
        key = str(key)
        if (key in SECTIONS or key == GRPO_SECTION) and isinstance(value, dict):
            for sub, sub_value in value.items():
                dotted = f"{key}.{sub}"
                items.append((dotted, sub_value, f"{where}:{lines.get(dotted, '?')}"))
        else:
            items.append((key, value, f"{where}:{lines.get(key, '?')}"))
    return items


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UserError(f"override {text!r} is not key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _read_yaml(path: Path) -> tuple[dict, dict[str, int]]:
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"cannot read config {path}: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text) or {}
        lines = _yaml_lines(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}{at}: invalid YAML: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: a config file must be a mapping of keys to values")
    return data, lines


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML config (or start from defaults), apply key=value overrides, check and return it."""
    items: list[tuple[str, Any, str]] = []
    if path is not None:
        data, lines = _read_yaml(Path(path))
        items += _flatten(data, str(path), lines)
    for text in overrides:
        key, value = _parse_override(text)
        items.append((key, value, f"override {text!r}"))

    ours, theirs = _our_fields(), grpo_fields()
    valid = sorted(set(ours) | set(theirs) | {f"{s}.{k}" for k, (s, _, _) in ours.items()} | {f"{GRPO_SECTION}.{k}" for k in theirs})
    cfg = TrainConfig()
    for key, value, where in items:
        section, _, name = key.rpartition(".")
        if name in ours and section in ("", ours[name][0]):
            sec, f, tp = ours[name]
            setattr(getattr(cfg, sec), name, coerce(value, tp, f"{where}: {key}"))
        elif name in theirs and section in ("", GRPO_SECTION):
            cfg.grpo[name] = coerce(value, theirs[name], f"{where}: {key}")
        else:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UserError(f"{where}: unknown key {key!r}{hint}")
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Check values that a type cannot: method, K, task, dtype, LoRA sizes."""
    from multianswer.models.loading import resolve_dtype

    m = cfg.method
    if m.method not in METHODS:
        close = difflib.get_close_matches(m.method, METHODS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"method: unknown method {m.method!r}{hint}; choose one of {', '.join(METHODS)}")
    if m.k < 1:
        raise UserError(f"k: must be at least 1, got {m.k}")
    if m.correctness not in CORRECTNESS_MODES:
        raise UserError(f"correctness: must be one of {', '.join(CORRECTNESS_MODES)}, got {m.correctness!r}")
    if m.uniqueness_weight < 0:
        raise UserError(f"uniqueness_weight: must be at least 0, got {m.uniqueness_weight}")
    if not cfg.data.task:
        raise UserError("task: no task given; set task=NAME (run `multianswer tasks` to list them)")
    for name in ("limit", "max_prompt_length", "eval_limit"):
        value = getattr(cfg.data, name)
        if value is not None and value < 1:
            raise UserError(f"{name}: must be at least 1, got {value}")
    if cfg.grpo.get("eval_strategy", "no") not in ("no", None) and not cfg.data.eval_split:
        raise UserError(f"eval_strategy: {cfg.grpo['eval_strategy']!r} needs a held-out split; set eval_split (e.g. test)")
    if cfg.model.lora_r < 1:
        raise UserError(f"lora_r: must be at least 1, got {cfg.model.lora_r}")
    if m.prompt_style not in PROMPT_STYLES:
        raise UserError(f"prompt_style: must be one of {', '.join(PROMPT_STYLES)}, got {m.prompt_style!r}")
    cfg.warmup.check()
    if cfg.rollout.rollout_slots < 0:
        raise UserError(f"rollout_slots: must be at least 0, got {cfg.rollout.rollout_slots}")
    if cfg.log.samples_per_log < 0:
        raise UserError(f"samples_per_log: must be at least 0, got {cfg.log.samples_per_log}")
    resolve_dtype(cfg.model.dtype)
    import multianswer.tasks as tasks  # registers the built-in tasks

    tasks.get_task(cfg.data.task)  # raises UserError naming the closest task
