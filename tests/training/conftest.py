"""Helpers of the training tests: a tiny-model GRPO trainer and TRL-shaped micro-batches to feed its loss."""

from __future__ import annotations

import pytest
import torch

from multianswer.training.config import load_config
from multianswer.training.trainer import build_trainer, resolve


def make_tiny_trainer(output_dir, *overrides, rewards=None):
    """A GRPO trainer on the tiny model (no format warm-up), in training mode, ready for `compute_loss`."""
    cfg = resolve(load_config(None, [
        "task=procedural-draws", "model=tiny", "num_generations=4", "per_device_train_batch_size=8",
        "max_completion_length=12", "max_steps=1", "report_to=[]", f"output_dir={output_dir}", "format_warmup_steps=0",
        *overrides,
    ]))
    trainer = build_trainer(cfg, rewards=rewards)
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = trainer.args.gradient_accumulation_steps  # set by train() otherwise
    return trainer


def accumulate(trainer, micro_batches):
    """The loss summed over `micro_batches` and the gradients they accumulate, as one optimizer step sees them."""
    model = trainer.model
    model.zero_grad()
    total = 0.0
    for inputs in micro_batches:
        loss = trainer.compute_loss(model, inputs)
        loss.backward()
        total += loss.detach()
    trainer.flush_shared_prefixes()  # as training_step does after a step's last micro-batch
    return total, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def make_batch(trainer, rows: int = 8, seed: int = 0, lengths: tuple[int, int] = (3, 12)) -> dict:
    """A TRL-shaped micro-batch: chat-templated prompts (left-padded) of two questions, random completions (right-padded)."""
    tok = trainer.processing_class
    gen = torch.Generator().manual_seed(seed)
    prompts = []
    for i in range(rows):
        ids = tok.apply_chat_template(trainer.train_dataset[i // 4]["prompt"], add_generation_prompt=True)
        prompts.append(ids["input_ids"] if hasattr(ids, "keys") else ids)
    lengths = torch.randint(*lengths, (rows,), generator=gen).tolist()
    completions = [torch.randint(4, len(tok) - 1, (n,), generator=gen).tolist() for n in lengths]
    pad = tok.pad_token_id
    pw, cw = max(map(len, prompts)), max(lengths) + 2  # +2: columns padded in every row, as TRL leaves them
    prompt_ids = torch.tensor([[pad] * (pw - len(p)) + p for p in prompts])
    completion_ids = torch.tensor([c + [pad] * (cw - len(c)) for c in completions])
    prompt_mask = torch.tensor([[0] * (pw - len(p)) + [1] * len(p) for p in prompts])
    completion_mask = torch.tensor([[1] * len(c) + [0] * (cw - len(c)) for c in completions])
    return {
        "prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids,
        "completion_mask": completion_mask, "advantages": torch.randn(rows, generator=gen),
        "num_items_in_batch": completion_mask.sum(), "old_per_token_logps": None,
    }


@pytest.fixture
def trl_batch():
    """`make_batch`, as a fixture."""
    return make_batch


@pytest.fixture
def tiny_trainer():
    """`make_tiny_trainer`, as a fixture."""
    return make_tiny_trainer


@pytest.fixture
def loss_and_grads():
    """`accumulate`, as a fixture."""
    return accumulate
