"""Generation backends: chat prompts in, n completions per prompt out (text + generated token count).

    HFBackend      transformers on CPU or GPU: slot-refill decoding with the shared prompt prefix
                   computed once (hf.py, refill.py), or `model.generate` for other cache types.
    VLLMBackend    vLLM's offline `LLM.generate` (GPU only, used when vllm is importable; vllm.py).
    ReplayBackend  completions written in advance (tests, demos, outputs of other systems).

All share the interface, seeding and prompt rendering in base.py, re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from multianswer.core.errors import UserError
from multianswer.generation.base import (  # noqa: F401 - re-exported: the public home of these names
    Backend, BackendBase, Completion, Messages, SamplingArgs, derive_seed, generate, prompt_seeds, prompt_token_ids,
    render_prompt, stop_token_ids,
)
from multianswer.generation.hf import HFBackend, SeededSampler  # noqa: F401
from multianswer.generation.vllm import VLLMBackend, vllm_available  # noqa: F401


class ReplayBackend(BackendBase):
    """Completions written in advance, looked up by problem text: for tests, demos, and scoring
    completions generated elsewhere (counts whitespace words as tokens unless given a counter)."""

    name = "replay"

    def __init__(self, completions: Mapping[str, Sequence[str | Completion]], count_tokens: Callable[[str], int] | None = None):
        self.completions = dict(completions)
        self._count = count_tokens or (lambda text: len(text.split()))

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def stream(self, prompts, args: SamplingArgs, seed=0):
        """Yield (prompt index, the first n completions given for its problem)."""
        for i, messages in enumerate(prompts):
            user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
            key = next((p for p in self.completions if user == p or user.startswith(p + "\n\n")), None)
            if key is None or len(self.completions[key]) < args.n:
                raise KeyError(f"no {args.n} replay completions for the problem {user[:60]!r}")
            yield i, [c if isinstance(c, Completion) else Completion(c, self._count(c)) for c in self.completions[key][: args.n]]


BACKENDS = ("auto", "hf", "vllm")


def make_backend(
    model: Any,
    backend: str = "auto",
    batch_size: int = 16,
    dtype: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> Backend:
    """A backend for `model`: a name/dir for `models.load_model`, a (model, tokenizer) pair, or a Backend.

    'auto' picks vLLM when it is importable and a GPU is present, transformers otherwise.
    """
    if hasattr(model, "stream") and hasattr(model, "count_tokens"):
        return model
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    from multianswer.models.loading import load_model, load_tokenizer, model_path

    if isinstance(model, tuple):
        return HFBackend(model[0], model[1], batch_size, progress)
    if backend == "vllm" or (backend == "auto" and vllm_available()):
        if not vllm_available():
            raise UserError("--backend vllm needs the vllm package and a CUDA GPU")
        # built-ins resolve to a plain checkpoint directory, which vLLM loads like any other
        return VLLMBackend(model_path(model), load_tokenizer(model), dtype=dtype or "auto")
    loaded, tokenizer = load_model(model, dtype=dtype, device=device)
    return HFBackend(loaded, tokenizer, batch_size, progress)
