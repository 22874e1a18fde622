"""Length-grouped micro-batches: the completions of a generation batch are trained shortest first.

TRL shuffles a generation batch before cutting it into micro-batches, so each micro-batch holds
completions of every length and is padded to its longest. Sorted by completion length, each
micro-batch holds similar lengths and pads little (the shared-prefix pass cuts every micro-batch
at its own longest completion). The optimizer still sees every completion of the generation
batch before it steps, and the loss types below sum per-token or per-sequence terms over fixed
denominators, so the order changes no gradient: only float rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from trl import GRPOTrainer
from trl.trainer.utils import split_tensor_dict

# losses whose accumulated gradient does not depend on which completions share a micro-batch
# (bnpo normalises by a micro-batch's own token count: left as TRL shuffles it)
ORDER_FREE_LOSSES = ("dapo", "grpo", "dr_grpo", "cispo")


def merge(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """The micro-batches of one generation batch joined back along rows (0-d tensors are shared, kept once)."""
    merged = {}
    for key, first in batches[0].items():
        if isinstance(first, torch.Tensor) and first.ndim > 0:
            merged[key] = torch.cat([b[key] for b in batches])
        elif isinstance(first, list):
            merged[key] = [x for b in batches for x in b[key]]
        else:
            merged[key] = first
    return merged


def reorder(batch: dict[str, Any], order: torch.Tensor) -> dict[str, Any]:
    """`batch` with its rows in `order`."""
    rows = order.tolist()

    def take(v):
        if isinstance(v, torch.Tensor) and v.ndim > 0:
            return v[order]
        return [v[i] for i in rows] if isinstance(v, list) else v

    return {key: take(v) for key, v in batch.items()}


def group_by_length(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same rows in as many micro-batches, each holding completions of similar length (shortest first)."""
    merged = merge(batches)
    order = torch.argsort(merged["completion_mask"].sum(1), stable=True)
    return split_tensor_dict(reorder(merged, order), len(batches))


class LengthGroupedMixin(GRPOTrainer):
    """GRPOTrainer that trains each generation batch in length-grouped micro-batches where the order changes no gradient."""

    group_by_length: bool = True

    def _length_grouping_applies(self) -> bool:
        a = self.args
        # one optimizer step per generation batch: sorted micro-batches must not become sorted optimizer steps
        return (self.group_by_length and self.loss_type in ORDER_FREE_LOSSES and self.num_iterations == 1
                and a.steps_per_generation == a.gradient_accumulation_steps > 1 and not self._is_vlm)

    def _prepare_inputs(self, generation_batch):
        generates = self.model.training and (
            self._step % (self.args.steps_per_generation * self.num_iterations) == 0 or self._buffered_inputs is None)
        inputs = super()._prepare_inputs(generation_batch)
        if not (generates and self._length_grouping_applies()):
            return inputs
        self._buffered_inputs = group_by_length(self._buffered_inputs)
        return self._buffered_inputs[self._step % self.args.steps_per_generation]
