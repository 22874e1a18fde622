"""Generation backends: chat prompts in, n completions per prompt out (text + generated token count).

Two backends share one interface and one prompt rendering (the tokenizer's chat template with
`add_generation_prompt`), so a model scores the same whichever one ran it:

    HFBackend    transformers `model.generate`, left-padded batches sorted by prompt length,
                 KV cache, CPU or GPU.
    VLLMBackend  vLLM's offline `LLM.generate` (GPU only, used when vllm is importable).
    ReplayBackend  completions written in advance (tests, demos, outputs of other systems).

Sampling is seeded per prompt (and per sample), not per batch: a prompt's completions do not
depend on which other prompts share its batch, so batching and resuming do not change samples.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from multianswer.core.errors import UserError

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
        from multianswer.generation.options import check_sampling

        check_sampling(self.temperature, self.top_p, self.max_new_tokens, self.n)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (e.g. run seed, question id, sample index); not Python's salted hash."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _prompt_seeds(seed: int | Sequence[int], n_prompts: int) -> list[int]:
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


# ---------------------------------------------------------------------------- transformers backend

class SeededSampler:
    """A logits processor that samples each row with its own generator and leaves only that token.

    With greedy decoding after it, `generate` takes exactly the sampled token, so a row's sample
    depends on its seed alone (HF's own sampling shares one RNG across the batch). Inverse-CDF
    sampling from one uniform per step keeps rows independent of batch composition.
    """

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float = 1.0):
        import torch

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids, scores):  # scores: (rows, vocab)
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        u = torch.cat([torch.rand(1, generator=g) for g in self.generators]).to(probs.device)  # (rows,)
        if self.top_p < 1.0:
            probs, order = probs.sort(dim=-1, descending=True)
            # keep the smallest prefix whose mass reaches top_p (always the most likely token)
            probs = probs * ((probs.cumsum(-1) - probs) < self.top_p)
        cdf = probs.cumsum(-1)  # (rows, vocab)
        pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).clamp_(max=cdf.shape[1] - 1)
        token = order.gather(1, pick) if self.top_p < 1.0 else pick  # (rows, 1)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, token, 0.0)


class HFBackend(BackendBase):
    """Batched generation with transformers: left padding, KV cache, prompts sorted by length."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16, progress: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size, self.progress = batch_size, progress
        self.stop_ids = stop_token_ids(model, tokenizer)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.stop_ids[0]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, prompts, args: SamplingArgs, seed=0):
        """Yield (prompt index, n completions); `batch_size` counts sequences (prompts × samples)."""
        from tqdm.auto import tqdm

        seeds = _prompt_seeds(seed, len(prompts))
        ids = [prompt_token_ids(self.tokenizer, m) for m in prompts]
        copies = 1 if args.greedy else args.n  # greedy samples are all the same: generate one, repeat it
        per_batch = max(1, self.batch_size // copies)
        # longest first: the largest batch runs first, so an out-of-memory shows at once
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        bar = tqdm(total=len(ids), desc="generating", unit="prompt", disable=not self.progress)
        try:
            for start in range(0, len(order), per_batch):
                batch = order[start : start + per_batch]
                rows = [(i, j) for i in batch for j in range(copies)]
                texts = self._generate_rows([ids[i] for i, _ in rows], [derive_seed(seeds[i], j) for i, j in rows], args)
                for b, i in enumerate(batch):
                    got = texts[b * copies : (b + 1) * copies]
                    yield i, got * args.n if copies == 1 and args.n > 1 else got
                bar.update(len(batch))
        finally:
            bar.close()

    def _generate_rows(self, rows: list[list[int]], seeds: list[int], args: SamplingArgs) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        device = self.model.device
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, toks in enumerate(rows):  # left padding: the last prompt token sits at the same place in every row
            input_ids[r, width - len(toks) :] = torch.tensor(toks, dtype=torch.long)
            mask[r, width - len(toks) :] = 1
        config = GenerationConfig(
            max_new_tokens=args.max_new_tokens, do_sample=False, num_beams=1, repetition_penalty=1.0,
            eos_token_id=self.stop_ids, pad_token_id=self.pad_id, use_cache=True,
        )
        processors = LogitsProcessorList([] if args.greedy else [SeededSampler(seeds, args.temperature, args.top_p)])
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(device), attention_mask=mask.to(device),
                generation_config=config, logits_processor=processors,
            )
        generated = out[:, width:].tolist()  # (rows, new tokens), padded after EOS
        return [self._completion(g) for g in generated]

    def _completion(self, tokens: list[int]) -> Completion:
        stops = set(self.stop_ids)
        n = next((t + 1 for t, tok in enumerate(tokens) if tok in stops), len(tokens))  # EOS counts: it was generated
        return Completion(self.tokenizer.decode(tokens[:n], skip_special_tokens=True), n)


# ---------------------------------------------------------------------------- vLLM backend

def vllm_available() -> bool:
    """True when vllm is importable and a CUDA GPU is present."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


class VLLMBackend(BackendBase):
    """vLLM's offline engine; prompts are token ids rendered by the same chat template as HFBackend."""

    name = "vllm"

    def __init__(self, model_path: str, tokenizer: Any, dtype: str = "auto", chunk: int = 512, **engine_args: Any):
        from vllm import LLM

        self.tokenizer, self.chunk = tokenizer, chunk
        self.llm = LLM(model=model_path, dtype=dtype, **engine_args)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, prompts, args: SamplingArgs, seed=0):
        """Yield (prompt index, n completions), `chunk` prompts per engine call (so results land on disk as they come)."""
        from vllm import SamplingParams

        seeds = _prompt_seeds(seed, len(prompts))
        for start in range(0, len(prompts), self.chunk):
            idx = range(start, min(start + self.chunk, len(prompts)))
            requests = [{"prompt_token_ids": prompt_token_ids(self.tokenizer, prompts[i])} for i in idx]
            params = [
                SamplingParams(
                    n=args.n, temperature=args.temperature, top_p=args.top_p,
                    max_tokens=args.max_new_tokens, seed=seeds[i] % (2**31),
                )
                for i in idx
            ]
            for i, result in zip(idx, self.llm.generate(requests, params, use_tqdm=True)):
                yield i, [Completion(o.text, len(o.token_ids)) for o in result.outputs]


# ---------------------------------------------------------------------------- replay backend

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


# ---------------------------------------------------------------------------- choosing one

BACKENDS = ("auto", "hf", "vllm", "openai")


def make_backend(
    model: Any,
    backend: str = "auto",
    batch_size: int = 16,
    dtype: str | None = None,
    device: str | None = None,
    progress: bool = True,
    **server: Any,
) -> Backend:
    """A backend for `model`: a name/dir for `models.load_model`, a (model, tokenizer) pair, or a Backend.

    'auto' picks vLLM when it is importable and a GPU is present, transformers otherwise.
    'openai' sends `model` (a served model's name) to the server in `server` (see generation.openai).
    """
    if hasattr(model, "stream") and hasattr(model, "count_tokens"):
        return model
    if backend not in BACKENDS:
        raise UserError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "openai":
        from multianswer.generation.openai import OpenAIBackend

        return OpenAIBackend.connect(model, progress=progress, **server)
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
