"""The GRPO training pass with the prompt prefix that a step's rows share computed once.

TRL scores a micro-batch as one padded batch `[left pads | prompt | completion | right pads]`, so
the system prompt and instructions, the same tokens in every row, go through the model again for
each row: on SmolLM2 with the paper's prompts about 3/4 of every forward and backward pass. Here
the shared prefix runs once (batch 1), its keys and values are broadcast to the rows, and each
row runs only its own tokens on top:

    prefix (1, P)              -> KV cache, expanded to B rows
    suffix (B, W) = input_ids[:, T - W:]    the same right edge as TRL's layout, so the completion
                                            stays in the last `logits_to_keep` columns; a row's own
                                            prefix copy and its left pads are masked out

Under gradients the prefix runs once per optimizer step, not per micro-batch: the weights do not
change between a step's micro-batches, so its keys and values enter each micro-batch as detached
leaves that collect gradients, and after the step's last backward their sum goes through the
prefix's graph once (`flush_shared_prefixes`). Only completion tokens meet the vocabulary-sized LM
head (TRL's fused head scores every position on CPU).

Positions count real tokens (the prefix is 0..P-1 in every row). TRL's plain path counts left
pads too, which shifts all of a row's positions by the same amount: under rotary position
embeddings attention depends on position differences only, so both paths give the same
log-probabilities and gradients up to float rounding (tests/training/test_shared_prefix.py; with
dropout the prefix draws one mask for all rows). Models with absolute position embeddings, logit
softcapping or scaling, sliding-window caches, activation checkpointing (which drops the cache), a
DDP/FSDP/DeepSpeed wrapper (one forward per backward) or image inputs keep TRL's path.

Columns that are right padding in every row of the micro-batch (TRL pads completions to the
longest of the whole generation batch) are cut before the pass and given log-probability 0,
as TRL gives every padded position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache
from trl import GRPOTrainer

MIN_SHARED_PREFIX = 16  # shorter prefixes are not worth a separate forward pass


@dataclass
class PrefixLayout:
    """A micro-batch laid out as one shared prefix and per-row suffixes."""

    prefix_ids: torch.Tensor  # (1, P)
    suffix_ids: torch.Tensor  # (B, W)
    attention_mask: torch.Tensor  # (B, P + W): the prefix's columns, then the suffix's
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
    """Split a TRL micro-batch (prompt left-padded, completion right-padded) at a shared prefix of `prefix_len` tokens."""
    batch, width = input_ids.shape
    prompt_width = width - logits_to_keep
    starts = prompt_width - attention_mask[:, :prompt_width].sum(1)
    # completion columns padded in every row need no pass (keep one, so the output never is empty)
    used = int(attention_mask[:, prompt_width:].any(0).nonzero().max()) + 1 if attention_mask[:, prompt_width:].any() else 1
    end = prompt_width + used
    begin = int(starts.min()) + prefix_len
    suffix_ids = input_ids[:, begin:end]
    columns = torch.arange(begin, end, device=input_ids.device)
    suffix_mask = attention_mask[:, begin:end] * (columns[None] >= (starts + prefix_len)[:, None])
    full_mask = torch.cat([suffix_mask.new_ones(batch, prefix_len), suffix_mask], dim=1)
    position_ids = (prefix_len + suffix_mask.cumsum(1) - 1).clamp(min=0)
    labels = suffix_ids.masked_fill(suffix_mask == 0, -100)
    labels[:, : end - begin - used] = -100
    first = int(starts[0])
    return PrefixLayout(input_ids[:1, first:first + prefix_len], suffix_ids, full_mask, position_ids, labels, used)


def _plain_head(model) -> bool:
    """True when the next-token logits are the LM head's output as is (no softcapping or scaling, which TRL's head applies)."""
    text = model.config.get_text_config()
    scaled = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")
    return all(getattr(text, name, None) is None for name in scaled)


def _rotary(model) -> bool:
    """True when the model's positions enter through rotary embeddings (position shifts cancel in attention)."""
    return any(name.endswith("rotary_emb") for name, _ in model.named_modules())


class SharedPrefixMixin(GRPOTrainer):
    """GRPOTrainer whose training (and old/reference) log-probabilities compute a micro-batch's shared prefix once."""

    shared_prefix_training: bool = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending_prefixes: dict[tuple[int, ...], tuple[list, list]] = {}  # prefix ids -> (graph outputs, leaves)

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

    def _prefix_cache(self, backbone, prefix_ids: torch.Tensor) -> DynamicCache:
        """The prefix's keys and values, computed once per optimizer step when gradients flow.

        Every micro-batch of a step sees the same weights, so under gradients the prefix runs once: its
        keys and values enter each micro-batch as detached leaves that collect the micro-batches'
        gradients, and `flush_shared_prefixes` (after the step's last backward) sends their sum
        through the prefix's own graph once. Without gradients (old/reference passes) it simply runs.
        """
        if not torch.is_grad_enabled():
            return backbone(input_ids=prefix_ids, use_cache=True).past_key_values
        key = tuple(prefix_ids[0].tolist())
        if key not in self._pending_prefixes:
            graph = backbone(input_ids=prefix_ids, use_cache=True).past_key_values
            tensors = [t for layer in graph.layers for t in (layer.keys, layer.values)]
            self._pending_prefixes[key] = (tensors, [t.detach().requires_grad_() for t in tensors])
        leaves = self._pending_prefixes[key][1]
        cache = DynamicCache()
        for i in range(0, len(leaves), 2):
            cache.update(leaves[i], leaves[i + 1], i // 2)
        return cache

    def flush_shared_prefixes(self) -> None:
        """Backpropagate the gradients the step's micro-batches left on each shared prefix through its graph."""
        pending, self._pending_prefixes = self._pending_prefixes, {}
        for tensors, leaves in pending.values():
            pairs = [(t, leaf.grad) for t, leaf in zip(tensors, leaves) if leaf.grad is not None]
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
        if prefix_len < MIN_SHARED_PREFIX:
            logps, entropies, _ = super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, compute_entropy=True)
            return logps, entropies
        lay = layout(input_ids, attention_mask, logits_to_keep, prefix_len)
        rows = input_ids.size(0)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        backbone = base.base_model  # LoRA layers sit inside it: calling it directly keeps them
        with self.accelerator.autocast():
            cache = self._prefix_cache(backbone, lay.prefix_ids)
            for layer in cache.layers:  # the one prefix computation, seen by every row (gradients sum over rows)
                layer.keys = layer.keys.expand(rows, -1, -1, -1)
                layer.values = layer.values.expand(rows, -1, -1, -1)
            hidden = backbone(input_ids=lay.suffix_ids, attention_mask=lay.attention_mask, position_ids=lay.position_ids,
                              past_key_values=cache, use_cache=False).last_hidden_state
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


def completion_logps(hidden: torch.Tensor, head: torch.nn.Module, labels: torch.Tensor, temperature: float,
                     with_entropy_grad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each label and the entropy of its next-token distribution at `temperature`, (tokens,) each."""
    # TRL's fused head scores every position on CPU (it compacts only on Triton devices); here only the
    # completion tokens meet the vocabulary-sized projection, once (no recomputation in the backward)
    logp = (head(hidden).float() / temperature).log_softmax(-1)
    chosen = logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    with torch.set_grad_enabled(with_entropy_grad and torch.is_grad_enabled()):
        entropy = -(logp.exp() * logp).sum(-1)
    return chosen, entropy
