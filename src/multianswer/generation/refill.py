"""Decoding with slot refill: a finished row's slot takes the next sequence at once.

`model.generate` keeps a batch together until its longest row ends, so rows that stopped early
still cost a decode slot each step (about half of them on short multi-answer completions). Here
each of `slots` rows of the KV cache holds one sequence; when it stops, the next waiting
sequence is prefilled and placed in that row while the others carry on decoding.

The KV cache is one preallocated buffer per layer (`SlotCache`); rows are right-aligned at the
current end column and an attention mask marks each row's real columns, so rows of different
lengths and ages share one decode step. Position ids are passed per row (RoPE needs the true
position, not the column). Appending writes in place instead of concatenating the whole cache
at every step, as transformers' `DynamicCache` does.

The prompt prefix that all sequences share (the system prompt and instructions) is run through
the model once; each prefill then computes only a sequence's own suffix on top of it.

Sampling is per row from the row's own generator (`sample_rows`), one uniform draw per token, so
a sequence's tokens depend on its seed alone: not on its slot, its neighbours, or when it was
placed. Works for models whose cache is a plain full-attention `DynamicCache` (`supports_refill`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

MIN_SHARED_PREFIX = 16  # shorter shared prefixes are not worth a separate forward pass
LEFT_SLACK = 64  # free columns kept left of the live region, so a longer prompt rarely forces a copy


def sample_rows(logits: torch.Tensor, generators: Sequence[torch.Generator], temperature: float, top_p: float) -> torch.Tensor:
    """One token per row (rows, vocab) -> (rows,): inverse-CDF with one uniform from each row's generator.

    temperature 0 is greedy. Inverse-CDF from one draw per step keeps a row's sample a function of
    its own logits and generator only.
    """
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    u = torch.cat([torch.rand(1, generator=g) for g in generators]).to(probs.device)  # (rows,)
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        # keep the smallest prefix whose mass reaches top_p (always the most likely token)
        probs = probs * ((probs.cumsum(-1) - probs) < top_p)
    cdf = probs.cumsum(-1)
    pick = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).clamp_(max=cdf.shape[1] - 1)
    return (order.gather(1, pick) if order is not None else pick).squeeze(1)


def supports_refill(model: Any) -> bool:
    """True when the model's cache is a plain full-attention DynamicCache (no sliding windows, no recurrent state)."""
    try:
        cache = DynamicCache(config=model.config)
    except Exception:  # noqa: BLE001 - any model whose cache cannot be built this way uses model.generate
        return False
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


class _SlotLayer(DynamicLayer):
    """One layer's keys and values in the cache's shared buffer: writes the new column in place."""

    def __init__(self, cache: SlotCache, index: int):
        super().__init__()
        self.cache, self.index = cache, index
        self.is_initialized = True

    def update(self, key_states, value_states, *args, **kwargs):
        c = self.cache
        q = key_states.shape[-2]
        c.keys[self.index][:, :, c.end : c.end + q] = key_states
        c.values[self.index][:, :, c.end : c.end + q] = value_states
        return c.keys[self.index][:, :, c.start : c.end + q], c.values[self.index][:, :, c.start : c.end + q]

    def get_seq_length(self) -> int:
        return self.cache.end - self.cache.start


class SlotCache(DynamicCache):
    """A KV cache of `rows` sequences in preallocated buffers; live columns are [start, end).

    The model appends one column per decode step through `update`; the loop calls `advance`
    after each forward. `mask` marks which live columns belong to each row's sequence.
    """

    def __init__(self, config: Any, rows: int, kv_heads: int, head_dim: int, dtype, device, capacity: int = 512):
        super().__init__(config=config)
        n_layers = len(self.layers)
        shape = (rows, kv_heads, capacity, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(n_layers)]
        self.mask = torch.zeros((rows, capacity), dtype=torch.long, device=device)
        self.start = self.end = capacity // 2
        self.layers = [_SlotLayer(self, i) for i in range(n_layers)]

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    def _reallocate(self, need_left: int, need_right: int) -> None:
        """Copy the live region into larger buffers with room for `need_left`/`need_right` more columns."""
        live = self.end - self.start
        left, right = need_left + LEFT_SLACK, max(need_right, live) + LEFT_SLACK
        capacity = left + live + right
        for store in (self.keys, self.values):
            for i, old in enumerate(store):
                new = old.new_zeros((old.shape[0], old.shape[1], capacity, old.shape[3]))
                new[:, :, left : left + live] = old[:, :, self.start : self.end]
                store[i] = new
        mask = self.mask.new_zeros((self.rows, capacity))
        mask[:, left : left + live] = self.mask[:, self.start : self.end]
        self.mask, self.start, self.end = mask, left, left + live

    def open_column(self) -> torch.Tensor:
        """Make room for one more column at the end; the attention mask over live columns plus it."""
        if self.end + 1 > self.keys[0].shape[2]:
            self._reallocate(0, 1)
        self.mask[:, self.end] = 1
        return self.mask[:, self.start : self.end + 1]

    def advance(self, columns: int = 1) -> None:
        """The forward pass wrote `columns` new columns."""
        self.end += columns

    def place(self, rows: Sequence[int], keys: Sequence[torch.Tensor], values: Sequence[torch.Tensor], mask: torch.Tensor) -> None:
        """Put prefilled sequences (per layer (k, heads, L, dim), mask (k, L)) in `rows`, ending at the end column."""
        width = mask.shape[1]
        if width > self.end - self.start:
            if self.start - (width - (self.end - self.start)) < 0:
                self._reallocate(width - (self.end - self.start), 0)
            self.start = self.end - width  # columns newly brought into the live region are masked for other rows
        index = torch.tensor(list(rows), dtype=torch.long, device=mask.device)
        for store, new in ((self.keys, keys), (self.values, values)):
            for buf, layer_new in zip(store, new):
                buf[index, :, self.end - width : self.end] = layer_new
        self.mask[index, self.start : self.end] = 0
        self.mask[index, self.end - width : self.end] = mask

    def keep_rows(self, rows: Sequence[int]) -> None:
        """Drop every row not in `rows` (in that order)."""
        index = torch.tensor(list(rows), dtype=torch.long, device=self.mask.device)
        for store in (self.keys, self.values):
            for i, buf in enumerate(store):
                store[i] = buf[index]
        self.mask = self.mask[index]

    def trim(self) -> None:
        """Forget leading columns that no row uses any more (no copy: the live region starts later)."""
        used = self.mask[:, self.start : self.end].any(0).nonzero()
        if len(used):
            self.start += int(used[0])


def shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Tokens that every row starts with, leaving each row at least one token of its own."""
    shortest = min(len(r) for r in rows)
    n = 0
    while n < shortest - 1 and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


class _Prefiller:
    """Runs prompts through the model on top of the once-computed shared prefix."""

    def __init__(self, model: Any, rows: Sequence[Sequence[int]], pad_id: int):
        self.model, self.pad_id, self.device = model, pad_id, model.device
        n = shared_prefix_length(rows)
        self.prefix_len = n if n >= MIN_SHARED_PREFIX else 0
        self.prefix: DynamicCache | None = None
        if self.prefix_len:
            self.prefix = DynamicCache(config=model.config)
            ids = torch.tensor([list(rows[0][: self.prefix_len])], device=self.device)
            model(input_ids=ids, past_key_values=self.prefix, use_cache=True, logits_to_keep=1)

    def __call__(self, prompts: Sequence[Sequence[int]]):
        """Per-layer keys and values (k, heads, L, dim), the mask (k, L) and last-position logits (k, vocab)."""
        p = self.prefix_len
        suffixes = [list(t[p:]) for t in prompts]
        width = max(len(s) for s in suffixes)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), p + width), dtype=torch.long)
        positions = torch.zeros((len(prompts), width), dtype=torch.long)
        mask[:, :p] = 1
        for r, s in enumerate(suffixes):  # layout: shared prefix | pads | own suffix
            ids[r, width - len(s) :] = torch.tensor(s)
            mask[r, p + width - len(s) :] = 1
            positions[r, width - len(s) :] = torch.arange(p, p + len(s))
        cache = DynamicCache(config=self.model.config)
        if self.prefix is not None:
            for layer, pre in zip(cache.layers, self.prefix.layers):
                layer.lazy_initialization(pre.keys, pre.values)
                layer.keys = pre.keys.expand(len(prompts), -1, -1, -1)
                layer.values = pre.values.expand(len(prompts), -1, -1, -1)
        mask = mask.to(self.device)
        out = self.model(
            input_ids=ids.to(self.device), attention_mask=mask, position_ids=positions.to(self.device),
            past_key_values=cache, use_cache=True, logits_to_keep=1,
        )
        return [l.keys for l in cache.layers], [l.values for l in cache.layers], mask, out.logits[:, -1].float()


def decode_with_refill(
    model: Any,
    prompts: Sequence[Sequence[int]],
    seeds: Sequence[int],
    *,
    slots: int,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    temperature: float,
    top_p: float = 1.0,
    pad_id: int = 0,
) -> Iterator[tuple[int, list[int]]]:
    """Yield (sequence index, generated token ids incl. a final stop token) as sequences finish."""
    stops = set(stop_ids)
    slots = min(slots, len(prompts))
    prefill = _Prefiller(model, prompts, pad_id)
    waiting = deque(range(len(prompts)))
    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    tokens: dict[int, list[int]] = {}
    cache: SlotCache | None = None
    seq: list[int | None] = []  # the sequence in each cache row, None when the row is free
    position = torch.zeros(0, dtype=torch.long)  # the next token's position in each row

    def take(rows: list[int], logits: torch.Tensor) -> list[tuple[int, list[int]]]:
        """Sample one token for each of `rows`; free the rows whose sequence stopped; return those."""
        ids = [seq[r] for r in rows]
        picked = sample_rows(logits, [generators[i] for i in ids], temperature, top_p).tolist()
        done = []
        for r, i, t in zip(rows, ids, picked):
            tokens[i].append(t)
            if t in stops or len(tokens[i]) >= max_new_tokens:
                done.append((i, tokens.pop(i)))
                seq[r] = None
                cache.mask[r] = 0
        return done

    with torch.inference_mode():
        while waiting or any(s is not None for s in seq):
            free = [r for r, s in enumerate(seq) if s is None] if cache is not None else list(range(slots))
            if waiting and free:
                new = [waiting.popleft() for _ in range(min(len(free), len(waiting)))]
                keys, values, mask, logits = prefill([prompts[i] for i in new])
                if cache is None:
                    k0 = keys[0]
                    cache = SlotCache(model.config, slots, k0.shape[1], k0.shape[3], k0.dtype, k0.device)
                    seq, position = [None] * slots, torch.zeros(slots, dtype=torch.long)
                rows = free[: len(new)]
                cache.place(rows, keys, values, mask)
                for r, i in zip(rows, new):
                    seq[r], tokens[i] = i, []
                    position[r] = len(prompts[i])
                yield from take(rows, logits)
            elif not waiting and any(s is None for s in seq) and sum(s is None for s in seq) * 4 >= len(seq):
                # nothing left to place: drop finished rows once they are a quarter of the batch
                keep = [r for r, s in enumerate(seq) if s is not None]
                cache.keep_rows(keep)
                seq, position = [seq[r] for r in keep], position[keep]
            active = [r for r, s in enumerate(seq) if s is not None]
            if not active:
                continue
            last = torch.tensor([tokens[s][-1] if s is not None else pad_id for s in seq], device=cache.mask.device)
            attention = cache.open_column()
            out = model(
                input_ids=last.unsqueeze(1), attention_mask=attention, position_ids=position.unsqueeze(1).to(last.device),
                past_key_values=cache, use_cache=True, logits_to_keep=1,
            )
            cache.advance()
            position += 1
            for r, s in enumerate(seq):
                if s is None:  # a free row's column belongs to no sequence
                    cache.mask[r, cache.end - 1] = 0
            yield from take(active, out.logits[active, -1].float())
            cache.trim()
