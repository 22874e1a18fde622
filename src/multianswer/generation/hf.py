"""The transformers backend: slot-refill decoding (refill.py), or `model.generate` for other caches.

Both engines sample each sequence from its own seeded generator with the same rule
(`refill.sample_rows`), so a sequence's completion is the same whichever engine, batch size or
batch neighbours produced it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from multianswer.generation.base import (
    BackendBase, Completion, SamplingArgs, derive_seed, prompt_seeds, prompt_token_ids, stop_token_ids,
)
ENGINES = ("auto", "refill", "generate")


class SeededSampler:
    """A logits processor for `model.generate` that samples each row with its own generator and leaves only that token.

    With greedy decoding after it, `generate` takes exactly the sampled token, so a row's sample
    depends on its seed alone (HF's own sampling shares one RNG across the batch).
    """

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float = 1.0):
        import torch

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature, self.top_p = temperature, top_p

    def __call__(self, input_ids, scores):  # scores: (rows, vocab)
        import torch

        from multianswer.generation.refill import sample_rows

        token = sample_rows(scores, self.generators, self.temperature, self.top_p).unsqueeze(1)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, token, 0.0)


class HFBackend(BackendBase):
    """Generation with transformers on CPU or GPU; `batch_size` counts sequences decoded together.

    engine 'refill' refills a finished sequence's slot at once and computes the shared prompt
    prefix once; 'generate' runs `model.generate` on left-padded batches; 'auto' takes refill
    when the model's cache allows it.
    """

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 16, progress: bool = True, engine: str = "auto"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        from multianswer.generation.refill import supports_refill  # imports torch: only when a model is used

        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size, self.progress = batch_size, progress
        self.engine = ("refill" if supports_refill(model) else "generate") if engine == "auto" else engine
        self.stop_ids = stop_token_ids(model, tokenizer)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.stop_ids[0]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, prompts, args: SamplingArgs, seed=0):
        """Yield (prompt index, n completions) as each prompt's last sample finishes."""
        from tqdm.auto import tqdm

        seeds = prompt_seeds(seed, len(prompts))
        ids = [prompt_token_ids(self.tokenizer, m) for m in prompts]
        copies = 1 if args.greedy else args.n  # greedy samples are all the same: generate one, repeat it
        rows = [(i, j) for i in range(len(ids)) for j in range(copies)]
        row_seeds = [derive_seed(seeds[i], j) for i, j in rows]
        finished: dict[int, dict[int, Completion]] = {}
        bar = tqdm(total=len(ids), desc="generating", unit="prompt", disable=not self.progress)
        try:
            for r, tokens in self._decode([ids[i] for i, _ in rows], row_seeds, args):
                i, j = rows[r]
                finished.setdefault(i, {})[j] = self._completion(tokens)
                if len(finished[i]) == copies:
                    done = finished.pop(i)
                    got = [done[j] for j in range(copies)]
                    bar.update(1)
                    yield i, got * args.n if copies == 1 and args.n > 1 else got
        finally:
            bar.close()

    def _decode(self, rows: list[list[int]], seeds: list[int], args: SamplingArgs):
        """(row index, generated tokens) for every row, in the order they finish."""
        temperature = 0.0 if args.greedy else args.temperature
        if self.engine == "refill":
            from multianswer.generation.refill import decode_with_refill

            yield from decode_with_refill(
                self.model, rows, seeds, slots=self.batch_size, max_new_tokens=args.max_new_tokens,
                stop_ids=self.stop_ids, temperature=temperature, top_p=args.top_p, pad_id=self.pad_id,
            )
            return
        # longest first: the largest batch runs first, so an out-of-memory shows at once
        order = sorted(range(len(rows)), key=lambda r: -len(rows[r]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            generated = generate_padded(self.model, [rows[r] for r in batch], [seeds[r] for r in batch],
                                        args, temperature, self.stop_ids, self.pad_id)
            yield from zip(batch, generated)

    def _completion(self, tokens: list[int]) -> Completion:
        stops = set(self.stop_ids)
        n = next((t + 1 for t, tok in enumerate(tokens) if tok in stops), len(tokens))  # EOS counts: it was generated
        return Completion(self.tokenizer.decode(tokens[:n], skip_special_tokens=True), n)


def generate_padded(model: Any, rows: list[list[int]], seeds: list[int], args: SamplingArgs, temperature: float,
                    stop_ids: list[int], pad_id: int) -> list[list[int]]:
    """One left-padded `model.generate` call; each row's new tokens (padded after its stop token)."""
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    device = model.device
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, toks in enumerate(rows):  # left padding: the last prompt token sits at the same place in every row
        input_ids[r, width - len(toks) :] = torch.tensor(toks, dtype=torch.long)
        mask[r, width - len(toks) :] = 1
    config = GenerationConfig(
        max_new_tokens=args.max_new_tokens, do_sample=False, num_beams=1, repetition_penalty=1.0,
        eos_token_id=stop_ids, pad_token_id=pad_id, use_cache=True,
    )
    processors = LogitsProcessorList([] if temperature == 0 else [SeededSampler(seeds, temperature, args.top_p)])
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids.to(device), attention_mask=mask.to(device),
            generation_config=config, logits_processor=processors,
        )
    return out[:, width:].tolist()
