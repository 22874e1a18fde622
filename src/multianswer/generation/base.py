"""What every generation backend shares: the interface, sampling arguments, seeds, prompt rendering.

Backends (hf.py, vllm.py, backends.py) share one prompt rendering (the tokenizer's chat template
with `add_generation_prompt`), so a model scores the same whichever one ran it. Sampling is
seeded per prompt (and per sample), not per batch: a prompt's completions do not depend on which
other prompts share its batch, so batching and resuming do not change samples.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


Messages = list[dict]


@dataclass(frozen=True)
class Completion:
    """One generated completion: its text and how many tokens the model generated for it."""

    text: str
    n_tokens: int


@dataclass(frozen=True)
class SamplingArgs:
    """How to sample: n completions per prompt; temperature 0 means greedy."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 512

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_new_tokens < 1:
            raise ValueError(f"need n >= 1 and max_new_tokens >= 1, got n={self.n}, max_new_tokens={self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (e.g. run seed, question id, sample index); not Python's salted hash."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def prompt_seeds(seed: int | Sequence[int], n_prompts: int) -> list[int]:
    """One seed per prompt: derived from a run seed, or given one per prompt."""
    if isinstance(seed, int):
        return [derive_seed(seed, i) for i in range(n_prompts)]
    if len(seed) != n_prompts:
        raise ValueError(f"got {len(seed)} seeds for {n_prompts} prompts")
    return [int(s) for s in seed]


class Backend(Protocol):
    """What evaluation needs from a generator."""

    name: str

    def stream(
        self, prompts: Sequence[Messages], args: SamplingArgs, seed: int | Sequence[int] = 0
    ) -> Iterator[tuple[int, list[Completion]]]:
        """Yield (prompt index, its n completions) as batches finish, in any order."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokenizer tokens in `text`."""
        ...


class BackendBase:
    """Gives a backend's `stream` the list-returning `generate` method."""

    def generate(self, prompts: Sequence[Messages], n: int = 1, temperature: float = 0.7, top_p: float = 1.0,
                 max_new_tokens: int = 512, seed: int | Sequence[int] = 0) -> list[list[Completion]]:
        """n completions for each chat prompt, in prompt order."""
        return generate(self, prompts, n, temperature, top_p, max_new_tokens, seed)  # type: ignore[arg-type]


def generate(
    backend: Backend,
    prompts: Sequence[Messages],
    n: int = 1,
    temperature: float = 0.7,
    top_p: float = 1.0,
    max_new_tokens: int = 512,
    seed: int | Sequence[int] = 0,
) -> list[list[Completion]]:
    """n completions for each chat prompt, in prompt order (seed: one int, or one seed per prompt)."""
    out: list[list[Completion] | None] = [None] * len(prompts)
    for i, completions in backend.stream(prompts, SamplingArgs(n, temperature, top_p, max_new_tokens), seed):
        out[i] = completions
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------------------- prompt rendering

def render_prompt(tokenizer: Any, messages: Messages) -> str:
    """The prompt text the model sees: the chat template with the assistant turn opened."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # a base model without a template: plain turns, so that at least something sensible runs
    warnings.warn("tokenizer has no chat template; using plain 'role: content' turns", stacklevel=2)
    return "".join(f"{m['role']}: {m['content']}\n\n" for m in messages) + "assistant: "


def prompt_token_ids(tokenizer: Any, messages: Messages) -> list[int]:
    """Token ids of the rendered prompt (the template already holds any BOS token)."""
    return list(tokenizer(render_prompt(tokenizer, messages), add_special_tokens=False)["input_ids"])


def stop_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Token ids that end a completion: the model's generation EOS ids and the tokenizer's EOS."""
    ids: list[int] = []
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (config_eos, tokenizer.eos_token_id):
        for i in value if isinstance(value, (list, tuple)) else [value]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    if not ids:
        raise ValueError("the model and tokenizer define no EOS token; generation would never stop")
    return ids
