"""The GRPO training pass with the prompt tokens that rows share computed once per optimizer step.

TRL scores a micro-batch as one padded batch `[left pads | prompt | completion | right pads]`, so
the system prompt and instructions, the same tokens in every row, go through the model again for
each row: on SmolLM2 with the paper's prompts about 3/4 of every forward and backward pass. And a
question's own text goes through it once per completion of its group. Here a step's prompts are a
two-level tree:

    prefix (1, P)           the tokens every row of the micro-batch starts with -> KV cache, once
    tails  (U, L)           each distinct question's remaining prompt tokens (all but the last), on
                            top of the prefix -> KV cache, once per question, not once per row
    suffix (B, W) = input_ids[:, prompt_width - 1:]   each row: its prompt's last token (whose
                            logits score the first completion token) and its completion, attending
                            to the prefix and to its own question's tail

Under gradients the prefix and the tails run once per optimizer step, not per micro-batch: the
weights do not change between a step's micro-batches, so their keys and values enter each
micro-batch as detached leaves that collect gradients, and after the step's last backward their
sums go back through the tails' graphs (into the prefix's leaves) and then the prefix's graph,
once each (`flush_shared_prefixes`). Only completion tokens meet the vocabulary-sized LM head
(TRL's fused head scores every position on CPU).

Positions count real tokens (the prefix is 0..P-1 in every row). TRL's plain path counts left
pads too, which shifts all of a row's positions by the same amount: under rotary position
embeddings attention depends on position differences only, so both paths give the same
log-probabilities and gradients up to float rounding (tests/training/test_shared_prefix.py; with
dropout a prefix or tail draws one mask for all its rows). Models with absolute position
embeddings, logit softcapping or scaling, sliding-window caches, activation checkpointing (which
drops the cache), a DDP/FSDP/DeepSpeed wrapper (one forward per backward) or image inputs keep
TRL's path.

Columns that are right padding in every row of the micro-batch (TRL pads completions to the
longest of the whole generation batch) are cut before the pass and given log-probability 0,
as TRL gives every padded position.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from trl import GRPOTrainer

MIN_SHARED_PREFIX = 16  # shorter prefixes are not worth a separate forward pass


@dataclass
class PrefixLayout:
    """A micro-batch laid out as one shared prefix, its questions' tails, and per-row suffixes."""

    prefix_ids: torch.Tensor  # (1, P)
    tails: list[tuple[int, ...]]  # the distinct tails (prompt tokens after the prefix, all but the last)
    row_tail: torch.Tensor  # (B,): each row's index into `tails`
    suffix_ids: torch.Tensor  # (B, W): the prompt's last token, then the completion
    attention_mask: torch.Tensor  # (B, P + T + W): the prefix's columns, the tails' (T = longest tail), the suffix's
    position_ids: torch.Tensor  # (B, W)
    labels: torch.Tensor  # (B, W): the completion tokens to score, -100 elsewhere
    scored: int  # completion columns scored (the rest of logits_to_keep is right padding in every row)


def shared_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_width: int) -> int:
    """Tokens every row's (left-padded) prompt starts with, leaving each row at least its last prompt token."""
    starts = prompt_width - attention_mask[:, :prompt_width].sum(1)  # left pads per row
    longest = int((prompt_width - starts).min()) - 1  # the last prompt token's logits score the first completion token
    if longest <= 0:
        return 0
    columns = starts[:, None] + torch.arange(longest, device=input_ids.device)[None]
    tokens = input_ids.gather(1, columns)
    same = (tokens == tokens[:1]).all(0)
    return longest if bool(same.all()) else int((~same).nonzero()[0])


def layout(input_ids: torch.Tensor, attention_mask: torch.Tensor, logits_to_keep: int, prefix_len: int) -> PrefixLayout:
    """Split a TRL micro-batch (prompt left-padded, completion right-padded) into a shared prefix, tails and suffixes."""
    prompt_width = input_ids.size(1) - logits_to_keep
    starts = (prompt_width - attention_mask[:, :prompt_width].sum(1)).tolist()
    completion_mask = attention_mask[:, prompt_width:]
    # completion columns padded in every row need no pass (keep one, so the output never is empty)
    used = int(completion_mask.any(0).nonzero().max()) + 1 if completion_mask.any() else 1
    row_tails = [tuple(input_ids[r, start + prefix_len:prompt_width - 1].tolist()) for r, start in enumerate(starts)]
    tails = list(dict.fromkeys(row_tails))
    lengths = torch.tensor([len(t) for t in row_tails], device=input_ids.device)
    longest = int(lengths.max())
    tail_mask = (torch.arange(longest, device=input_ids.device)[None] < lengths[:, None]).to(attention_mask.dtype)
    suffix_ids = input_ids[:, prompt_width - 1:prompt_width + used]
    suffix_mask = attention_mask[:, prompt_width - 1:prompt_width + used]
    full_mask = torch.cat([suffix_mask.new_ones(len(starts), prefix_len), tail_mask, suffix_mask], dim=1)
    position_ids = (prefix_len + lengths[:, None] + suffix_mask.cumsum(1) - 1).clamp(min=0)
    labels = suffix_ids.masked_fill(suffix_mask == 0, -100)
    labels[:, 0] = -100  # the prompt's last token
    return PrefixLayout(input_ids[:1, starts[0]:starts[0] + prefix_len], tails,
                        torch.tensor([tails.index(t) for t in row_tails], device=input_ids.device),
                        suffix_ids, full_mask, position_ids, labels, used)


@dataclass
class SharedKV:
    """A prefix's keys and values for a step, and the tails computed on top of it so far.

    `tensors` are graph outputs, `leaves` what the micro-batches read: detached copies that collect
    their gradients (under gradients), else the outputs themselves. Each is per layer [k0, v0, ...].
    """

    tensors: list[torch.Tensor]
    leaves: list[torch.Tensor]
    blocks: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = field(default_factory=list)  # tails: (tensors, leaves)
    where: dict[tuple[int, ...], tuple[int, int]] = field(default_factory=dict)  # tail -> (block, row in it)


def _cache(tensors: list[torch.Tensor]) -> DynamicCache:
    """A DynamicCache holding per-layer keys and values given as [k0, v0, k1, v1, ...]."""
    cache = DynamicCache()
    for i in range(0, len(tensors), 2):
        cache.update(tensors[i], tensors[i + 1], i // 2)
    return cache


def _plain_head(model) -> bool:
    """True when the next-token logits are the LM head's output as is (no softcapping or scaling, which TRL's head applies)."""
    text = model.config.get_text_config()
    scaled = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")
    return all(getattr(text, name, None) is None for name in scaled)


def _rotary(model) -> bool:
    """True when the model's positions enter through rotary embeddings (position shifts cancel in attention)."""
    return any(name.endswith("rotary_emb") for name, _ in model.named_modules())


class SharedPrefixMixin(GRPOTrainer):
    """GRPOTrainer whose training (and old/reference) log-probabilities compute the shared prefix and each question's prompt once."""

    shared_prefix_training: bool = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: dict[tuple[int, ...], SharedKV] = {}  # prefix ids -> what the step computed under that prefix
        self._batch_prefix_len: int | None = None  # tokens every prompt of the current generation batch starts with

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        self.remember_batch_prefix(batch)
        return batch

    def remember_batch_prefix(self, batch: dict) -> None:
        """Cut every micro-batch of this generation batch at the prefix all its prompts share.

        A micro-batch's own rows may share a few tokens more (two questions that start alike); cut there,
        micro-batches of one step would each need their own prefix and their own tails.
        """
        ids = batch["prompt_ids"]
        self._batch_prefix_len = shared_prefix_length(ids, batch["prompt_mask"], ids.size(1))

    def _shared_prefix_applies(self, model) -> bool:
        from multianswer.generation.refill import supports_refill  # the same cache check: full attention only

        if not self.shared_prefix_training or self._is_vlm or model is not self.accelerator.unwrap_model(model):
            return False
        cached = getattr(self, "_shared_prefix_model_ok", None)
        if cached is None or cached[0] is not model:
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            ok = supports_refill(base) and _rotary(base) and _plain_head(base) and not getattr(base, "is_activation_checkpointing", False)
            self._shared_prefix_model_ok = cached = (model, ok)
        return cached[1]

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **multimodal):
        if compute_aux_loss or any(v is not None for v in multimodal.values()) or not self._shared_prefix_applies(model):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss, **multimodal)
        batch_size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            lp, ent = self._shared_prefix_chunk(
                model, input_ids[start:start + batch_size], attention_mask[start:start + batch_size], logits_to_keep)
            logps.append(lp)
            entropies.append(ent)
        return torch.cat(logps), torch.cat(entropies) if compute_entropy else None, None

    def _prefix_kv(self, backbone, prefix_ids: torch.Tensor) -> SharedKV:
        """The prefix's keys and values (and its tails so far), computed once per optimizer step when gradients flow.

        Every micro-batch of a step sees the same weights, so under gradients the prefix runs once: its
        keys and values enter each micro-batch as detached leaves that collect the micro-batches'
        gradients, and `flush_shared_prefixes` (after the step's last backward) sends their sum
        through the prefix's own graph once. Without gradients (old/reference passes) it simply runs.
        """
        if not torch.is_grad_enabled():
            tensors = _kv(backbone(input_ids=prefix_ids, use_cache=True).past_key_values)
            return SharedKV(tensors, tensors)
        key = tuple(prefix_ids[0].tolist())
        if key not in self._pending:
            tensors = _kv(backbone(input_ids=prefix_ids, use_cache=True).past_key_values)
            self._pending[key] = SharedKV(tensors, [t.detach().requires_grad_() for t in tensors])
        return self._pending[key]

    def _tails_kv(self, backbone, lay: PrefixLayout, shared: SharedKV) -> list[torch.Tensor] | None:
        """Each row's tail keys and values per layer, (rows, heads, T, dim), T = the longest tail; like the prefix, once per step.

        A micro-batch's new tails run as one right-padded batch on top of the prefix (a real token never
        attends to a pad after it) and are kept as one block; a row reads its tail from its block.
        """
        width = lay.attention_mask.size(1) - lay.prefix_ids.size(1) - lay.suffix_ids.size(1)
        if not width:
            return None
        missing = [t for t in lay.tails if t and t not in shared.where]
        if missing:
            longest, n, p = max(map(len, missing)), len(missing), lay.prefix_ids.size(1)
            ids = lay.prefix_ids.new_tensor([list(t) + [t[-1]] * (longest - len(t)) for t in missing])
            mask = lay.prefix_ids.new_tensor([[1] * (p + len(t)) + [0] * (longest - len(t)) for t in missing])
            positions = torch.arange(p, p + longest, device=ids.device).expand(n, -1)
            out = backbone(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                           past_key_values=_cache([t.expand(n, -1, -1, -1) for t in shared.leaves])).past_key_values
            tensors = [t[:, :, p:] for t in _kv(out)]
            shared.where |= {t: (len(shared.blocks), j) for j, t in enumerate(missing)}
            leaves = [t.detach().requires_grad_() for t in tensors] if torch.is_grad_enabled() else tensors
            shared.blocks.append((tensors, leaves))
        places = [shared.where.get(t, (None, 0)) for t in lay.tails]  # an empty tail reads any row: all its columns are masked
        used = sorted({b for b, _ in places if b is not None})
        offsets = dict(zip(used, itertools.accumulate((shared.blocks[b][1][0].size(0) for b in used), initial=0)))
        rows = torch.tensor([offsets.get(b, 0) + j for b, j in places], device=lay.row_tail.device)[lay.row_tail]

        def fit(t: torch.Tensor) -> torch.Tensor:  # a block's width is its own longest tail
            return t[:, :, :width] if t.size(2) >= width else torch.nn.functional.pad(t, (0, 0, 0, width - t.size(2)))

        layers = zip(*(shared.blocks[b][1] for b in used))
        return [(fit(ts[0]) if len(ts) == 1 else torch.cat([fit(t) for t in ts]))[rows] for ts in layers]

    def flush_shared_prefixes(self) -> None:
        """Backpropagate the gradients the step's micro-batches left on the tails, then on each prefix, through their graphs."""
        pending, self._pending = list(self._pending.values()), {}
        tails = [block for shared in pending for block in shared.blocks]
        prefixes = [(shared.tensors, shared.leaves) for shared in pending]
        # one backward per level (tails computed together share a graph); the tails first, since
        # theirs adds to the gradients on the prefixes' leaves
        for level in (tails, prefixes):
            pairs = [(t, leaf.grad) for tensors, leaves in level for t, leaf in zip(tensors, leaves) if leaf.grad is not None]
            if pairs:
                torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self._step % self.current_gradient_accumulation_steps == 0:  # the step's last micro-batch: before clipping
            self.flush_shared_prefixes()
        return loss

    def _shared_prefix_chunk(self, model, input_ids, attention_mask, logits_to_keep):
        """Log-probabilities and entropies of one chunk's completion tokens, (rows, logits_to_keep) each."""
        prefix_len = shared_prefix_length(input_ids, attention_mask, input_ids.size(1) - logits_to_keep)
        if self._batch_prefix_len is not None:  # any shorter prefix is as exact; a stale one (old log-probabilities) too
            prefix_len = min(prefix_len, self._batch_prefix_len)
        if prefix_len < MIN_SHARED_PREFIX:
            logps, entropies, _ = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, compute_entropy=True)
            return logps, entropies
        lay = layout(input_ids, attention_mask, logits_to_keep, prefix_len)
        rows = input_ids.size(0)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        backbone = base.base_model  # LoRA layers sit inside it: calling it directly keeps them
        with self.accelerator.autocast():
            shared = self._prefix_kv(backbone, lay.prefix_ids)
            tails = self._tails_kv(backbone, lay, shared)
            # the one prefix computation, seen by every row (gradients sum over rows); then each row's own question's tail
            kv = [t.expand(rows, -1, -1, -1) for t in shared.leaves]
            if tails is not None:
                kv = [torch.cat([prefix, tail], dim=2) for prefix, tail in zip(kv, tails)]
            hidden = backbone(input_ids=lay.suffix_ids, attention_mask=lay.attention_mask, position_ids=lay.position_ids,
                              past_key_values=_cache(kv), use_cache=False).last_hidden_state
        scored = lay.labels[:, -lay.scored:]
        keep = scored != -100
        # the hidden state before each completion token predicts it; only those positions meet the LM head
        logps, entropies = completion_logps(hidden[:, -lay.scored - 1:-1][keep], base.get_output_embeddings(),
                                            scored[keep], self.temperature, with_entropy_grad=self._entropy_bonus_enabled)
        pad = logits_to_keep - lay.scored  # completion columns that are padding in every row: 0, as TRL gives them

        def widen(values):
            full = values.new_zeros(keep.shape).masked_scatter(keep, values)
            return torch.nn.functional.pad(full, (0, pad))

        return widen(logps), widen(entropies)


def _kv(cache: DynamicCache) -> list[torch.Tensor]:
    """A cache's per-layer keys and values as [k0, v0, k1, v1, ...]."""
    return [t for layer in cache.layers for t in (layer.keys, layer.values)]


def completion_logps(hidden: torch.Tensor, head: torch.nn.Module, labels: torch.Tensor, temperature: float,
                     with_entropy_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each label and the entropy of its next-token distribution at `temperature`, (tokens,) each."""
    # TRL's fused head scores every position on CPU (it compacts only on Triton devices); here only the
    # completion tokens meet the vocabulary-sized projection, once (no recomputation in the backward)
    # without a bias, head(h) / T = head(h / T): the division runs on hidden-sized rows, not vocabulary-sized ones
    logits = head(hidden / temperature).float() if getattr(head, "bias", None) is None else head(hidden).float() / temperature
    logp = logits.log_softmax(-1)
    chosen = logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    with torch.set_grad_enabled(with_entropy_grad and torch.is_grad_enabled()):
        entropy = -(logp.exp() * logp).sum(-1)
    return chosen, entropy
