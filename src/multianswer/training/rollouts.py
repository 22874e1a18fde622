"""GRPO rollouts with slot-refill decoding (generation/refill.py) instead of padded `model.generate`.

TRL generates a whole generation batch with one `model.generate` call, where every row keeps its
decode slot until the longest completion ends and every row prefills the long shared system
prompt again. `RefillGRPOTrainer` decodes the same batch with refilled slots and the shared
prefix computed once. It applies only where the sampling is the same: plain temperature/top-p
sampling on a text model without vLLM or transformers' continuous batching; anything else goes
to TRL's own path.

Rows are seeded from the run seed, the global step and the row index, so a run repeats itself.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from multianswer.generation.base import derive_seed
from multianswer.generation.refill import decode_with_refill, supports_refill
from multianswer.training.micro_batches import LengthGroupedMixin
from multianswer.training.shared_prefix import SharedPrefixMixin


class RefillGRPOTrainer(LengthGroupedMixin, SharedPrefixMixin):
    """GRPOTrainer with slot-refill rollouts (`rollout_slots` sequences at a time; 0 = off), a training pass that
    computes a micro-batch's shared prompt prefix once (`shared_prefix`) on length-grouped micro-batches (`group_by_length`)."""

    def __init__(self, *args, rollout_slots: int = 32, shared_prefix: bool = True, group_by_length: bool = True,
                 merge_lora_for_rollouts: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.rollout_slots = rollout_slots
        self.merge_lora_for_rollouts = merge_lora_for_rollouts
        self.shared_prefix_training = shared_prefix
        self.group_by_length = group_by_length
        self.refill_rollouts = self._refill_applies()

    def _refill_applies(self) -> bool:
        """True when refill decoding samples exactly what TRL's generate path would sample from."""
        plain_sampling = (
            not self.top_k and self.min_p is None and self.repetition_penalty == 1.0 and not self.args.generation_kwargs
        )
        model = self.accelerator.unwrap_model(self.model)
        return (
            self.rollout_slots > 0 and plain_sampling and not self.use_vllm and not self.use_transformers_continuous_batching
            and not self._is_vlm and supports_refill(model)
        )

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        if not self.refill_rollouts or images or multimodal_fields:
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations, has_tool_images)
        from trl.models import unwrap_model_for_generation

        step = self.state.global_step
        rank = self.accelerator.process_index
        seeds = [derive_seed(self.args.seed, "rollout", step, rank, i) for i in range(len(prompt_ids))]
        pad = self._tokenizer.pad_token_id
        pad = self.eos_token_ids[0] if pad is None else pad
        with (  # the same context as TRL's own generate path (DeepSpeed/FSDP gathering, no checkpointing)
            unwrap_model_for_generation(
                self.model_wrapped, self.accelerator, gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
            ) as model,
            torch.no_grad(),
            self._dist.summon_full_params(self.model_wrapped, recurse=False),
        ):
            was_training = model.training
            model.eval()
            with self._lora_merged(model):
                finished = dict(decode_with_refill(
                    model, [list(p) for p in prompt_ids], seeds, slots=self.rollout_slots,
                    max_new_tokens=self.max_completion_length, stop_ids=self.eos_token_ids,
                    temperature=self.temperature, top_p=self.top_p, pad_id=pad,
                ))
            model.train(was_training)
        return [finished[i] for i in range(len(prompt_ids))], None

    @contextmanager
    def _lora_merged(self, model):
        """The LoRA adapter merged into the weights while decoding (`merge_lora_for_rollouts`), as TRL does for vLLM.

        Unmerged, every decode step runs each adapted linear layer as three matrix products plus PEFT's
        Python dispatch; merged, as one. Unmerging subtracts what merging added (float rounding of the
        frozen weights, ~1e-7 relative per step, is the price, as in TRL's vLLM weight sync).
        """
        merge = (self.merge_lora_for_rollouts and hasattr(model, "merge_adapter") and not self.is_deepspeed_enabled
                 and not self.is_fsdp_enabled)
        if merge:
            model.merge_adapter()
        try:
            yield
        finally:
            if merge:
                model.unmerge_adapter()
