"""Slot-refill decoding: same samples as `model.generate` for a seed, whatever the batch; slots really refilled."""

from __future__ import annotations

import math

import pytest
import torch

from multianswer.core.formats import chat_messages
from multianswer.generation.backends import HFBackend, generate
from multianswer.generation.refill import SlotCache, decode_with_refill, shared_prefix_length, supports_refill

# Different questions after one long shared system prompt, as in evaluation.
PROMPTS = [chat_messages(f"What is {i} + {2 * i}?" + " Think hard." * (i % 3), "multi-conf", 3) for i in range(7)]


@pytest.fixture(scope="module")
def tiny():
    from multianswer.models.loading import load_model

    return load_model("tiny", device="cpu")


def _backend(tiny, batch_size: int, engine: str) -> HFBackend:
    """A backend whose stop tokens are every 5th id: random-weight completions end at varied lengths."""
    model, tok = tiny
    backend = HFBackend(model, tok, batch_size=batch_size, progress=False, engine=engine)
    backend.stop_ids = list(range(0, model.config.vocab_size, 5))
    return backend


def test_shared_prefix_leaves_every_row_a_token():
    assert shared_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2  # both identical: keep one token each
    assert shared_prefix_length([[7], [7, 8]]) == 0


def test_tiny_model_can_refill(tiny):
    assert supports_refill(tiny[0])


@pytest.mark.slow
@pytest.mark.parametrize("temperature, top_p", [(0.8, 1.0), (1.0, 0.9), (0.0, 1.0)])
def test_samples_for_a_seed_do_not_depend_on_engine_or_batch(tiny, temperature, top_p):
    kwargs = dict(n=2, temperature=temperature, top_p=top_p, max_new_tokens=12, seed=5)
    old = generate(_backend(tiny, 6, "generate"), PROMPTS, **kwargs)
    lengths = [c.n_tokens for cs in old for c in cs]
    if temperature > 0:  # greedy random weights repeat one token, which may never be a stop token
        assert min(lengths) < max(lengths), "the test needs sequences that stop at different steps"
    for batch_size in (1, 3, 16):
        assert generate(_backend(tiny, batch_size, "refill"), PROMPTS, **kwargs) == old, batch_size


@pytest.mark.slow
def test_a_finished_row_is_refilled_at_once(tiny):
    """Decode steps with 2 slots stay near total tokens / 2: no step waits for a batch's longest row."""
    model, tok = tiny
    backend = _backend(tiny, 2, "refill")
    rows = [backend.tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in PROMPTS]
    ids = [tok(r, add_special_tokens=False)["input_ids"] for r in rows]
    calls = []
    hook = model.register_forward_pre_hook(lambda m, a, kw: calls.append(kw["input_ids"].shape), with_kwargs=True)
    try:
        out = dict(decode_with_refill(model, ids, list(range(7)), slots=2, max_new_tokens=12,
                                      stop_ids=backend.stop_ids, temperature=1.0, pad_id=0))
    finally:
        hook.remove()
    lengths = [len(out[i]) for i in range(7)]
    decode_steps = sum(1 for shape in calls if shape[1] == 1)
    padded_batches = sum(max(lengths[i : i + 2]) for i in range(0, 7, 2))  # model.generate, 2 per batch
    assert decode_steps <= math.ceil((sum(lengths) - 7) / 2) + max(lengths)  # first tokens come from the prefill
    assert decode_steps < padded_batches
    assert max(shape[0] for shape in calls) <= 2  # never more rows than slots (the shared prefix is one row)
    assert calls[0] == (1, shared_prefix_length(ids))


def test_slot_cache_places_rows_right_aligned_and_forgets_unused_columns(tiny):
    model, _ = tiny
    cache = SlotCache(model.config, rows=2, kv_heads=1, head_dim=2, dtype=torch.float32, device="cpu", capacity=8)
    layers = len(cache.layers)
    k = [torch.ones(1, 1, 3, 2) * (i + 1) for i in range(layers)]
    cache.place([0], k, k, torch.tensor([[0, 1, 1]]))
    assert cache.end - cache.start == 3
    assert cache.mask[:, cache.start : cache.end].tolist() == [[0, 1, 1], [0, 0, 0]]
    longer = [torch.full((1, 1, 5, 2), 7.0) for _ in range(layers)]
    cache.place([1], longer, longer, torch.ones(1, 5, dtype=torch.long))  # longer than the live region: grows left
    assert cache.mask[:, cache.start : cache.end].tolist() == [[0, 0, 0, 1, 1], [1, 1, 1, 1, 1]]
    assert cache.keys[0][0, 0, cache.end - 2 : cache.end, 0].tolist() == [1.0, 1.0]  # row 0 kept its tokens
    cache.open_column()
    cache.advance()
    cache.mask[1, : cache.end] = 0  # row 1 finished; row 0 still uses its last 2 + 1 columns
    cache.trim()
    assert cache.end - cache.start == 3
    assert cache.mask[0, cache.start : cache.end].tolist() == [1, 1, 1]
