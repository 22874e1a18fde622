"""Length-grouped micro-batches: the same rows, grouped by completion length, and the same accumulated gradient."""

from __future__ import annotations

import pytest
import torch
from trl.trainer.utils import split_tensor_dict

from multianswer.training.micro_batches import group_by_length


def _rows(lengths):
    n = len(lengths)
    return {
        "completion_mask": torch.tensor([[1] * k + [0] * (6 - k) for k in lengths]),
        "advantages": torch.arange(n, dtype=torch.float),
        "ids": [f"row{i}" for i in range(n)],
        "num_items_in_batch": torch.tensor(sum(lengths)),
        "old_per_token_logps": None,
    }


def test_grouping_keeps_every_row_together_and_sorts_micro_batches_by_length():
    lengths = [5, 1, 6, 2, 4, 3, 1, 6]
    grouped = group_by_length(split_tensor_dict(_rows(lengths), 4))
    assert len(grouped) == 4 and all(len(b["ids"]) == 2 for b in grouped)
    got = [(row, int(adv), int(m.sum())) for b in grouped for row, adv, m in zip(b["ids"], b["advantages"], b["completion_mask"])]
    # each row keeps its own advantage and mask; lengths ascend; ties keep their order
    assert got == [("row1", 1, 1), ("row6", 6, 1), ("row3", 3, 2), ("row5", 5, 3), ("row4", 4, 4), ("row0", 0, 5),
                   ("row2", 2, 6), ("row7", 7, 6)]
    assert all(b["num_items_in_batch"] == 28 and b["old_per_token_logps"] is None for b in grouped)


@pytest.mark.slow
@pytest.mark.parametrize("loss_type", ["dapo", "grpo"])
def test_grouped_micro_batches_accumulate_the_shuffled_ones_gradient(tmp_path, loss_type, tiny_trainer, trl_batch,
                                                                      loss_and_grads):
    trainer = tiny_trainer(tmp_path, "use_lora=false", "per_device_train_batch_size=4", "gradient_accumulation_steps=4",
                           f"loss_type={loss_type}")
    assert trainer._length_grouping_applies()
    batches = split_tensor_dict(trl_batch(trainer, rows=16, seed=3), 4)
    grouped = group_by_length(batches)
    assert [len(b["advantages"]) for b in grouped] == [4] * 4
    loss, grads = loss_and_grads(trainer, batches)
    grouped_loss, grouped_grads = loss_and_grads(trainer, grouped)
    torch.testing.assert_close(grouped_loss, loss, rtol=1e-4, atol=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(grouped_grads[name], grad, rtol=1e-3, atol=1e-6, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("override", ["loss_type=bnpo", "steps_per_generation=8", "gradient_accumulation_steps=1"])
def test_grouping_is_off_where_the_order_would_change_the_update(tmp_path, override, tiny_trainer):
    assert not tiny_trainer(tmp_path, override)._length_grouping_applies()
