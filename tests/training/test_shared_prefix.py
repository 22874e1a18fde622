"""The shared-prefix training pass: the same loss and gradients as TRL's per-row pass, and its layout on a hand-made batch."""

from __future__ import annotations

import pytest
import torch

from trl.trainer.utils import split_tensor_dict

from multianswer.training.shared_prefix import layout, shared_prefix_length


def test_prefix_length_stops_at_the_first_difference_and_keeps_each_rows_last_prompt_token():
    pad = 0
    ids = torch.tensor([
        [pad, 5, 6, 7, 8, 9, 40, 41],  # prompt 5 6 7 8 9 | completion 40 41
        [5, 6, 7, 3, 9, 4, 42, pad],   # prompt 5 6 7 3 9 4 | completion 42
    ])
    mask = (ids != pad).long()
    assert shared_prefix_length(ids, mask, prompt_width=6) == 3
    same = torch.tensor([[pad, 5, 6, 7, 40], [5, 6, 7, 6, 41]])
    # the rows share 5 6 7, but the first row's prompt is only three tokens: its last one stays in the suffix
    assert shared_prefix_length(same, (same != pad).long(), prompt_width=4) == 2


def test_layout_splits_prefix_tails_and_suffixes_and_cuts_columns_padded_in_every_row():
    pad = 0
    ids = torch.tensor([
        [pad, 5, 6, 7, 8, 40, 41, pad],  # prompt 5 6 7 8 | completion 40 41
        [5, 6, 7, 2, 9, 42, pad, pad],   # prompt 5 6 7 2 9 | completion 42
        [5, 6, 7, 2, 9, 43, 44, pad],    # the same question as row 1
    ])
    mask = (ids != pad).long()
    lay = layout(ids, mask, logits_to_keep=3, prefix_len=3)
    assert lay.prefix_ids.tolist() == [[5, 6, 7]]
    # a tail is the prompt after the prefix but its last token: row 0 has none, rows 1 and 2 share one
    assert lay.tails == [(), (2,)] and lay.row_tail.tolist() == [0, 1, 1]
    assert lay.scored == 2  # the last completion column is padding in every row
    # every row's suffix starts at the prompt's last token, in the same column
    assert lay.suffix_ids.tolist() == [[8, 40, 41], [9, 42, pad], [9, 43, 44]]
    # columns: prefix (3), tails padded to the longest (1), suffix (3)
    assert lay.attention_mask.tolist() == [[1, 1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1]]
    # real tokens continue the prefix's and their tail's positions
    assert lay.position_ids[0].tolist() == [3, 4, 5] and lay.position_ids[2].tolist() == [4, 5, 6]
    assert lay.labels.tolist() == [[-100, 40, 41], [-100, 42, -100], [-100, 43, 44]]


@pytest.mark.slow
@pytest.mark.parametrize("lora", [True, False])
def test_shared_prefix_pass_gives_the_plain_pass_loss_and_gradients(tmp_path, lora, tiny_trainer, trl_batch, loss_and_grads):
    trainer = tiny_trainer(tmp_path, f"use_lora={str(lora).lower()}", "lora_dropout=0.0")  # dropout differs between passes
    with torch.no_grad():  # LoRA's B starts at 0, where A gets no gradient: give both something to compare
        for name, param in trainer.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02, generator=torch.Generator().manual_seed(len(name)))
    inputs = trl_batch(trainer, rows=12)
    # rows 0-3 answer question A, 4-7 B, 8-11 C; three micro-batches: [A A B B] computes A's and B's tails (one
    # block), [A C C C] reuses A's and computes C's (a second block), [A B B C] reads both blocks
    order = torch.tensor([0, 1, 4, 5, 2, 8, 9, 10, 3, 6, 7, 11])
    inputs = {key: value[order] if torch.is_tensor(value) and value.dim() else value for key, value in inputs.items()}
    ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    assert shared_prefix_length(ids, mask, inputs["prompt_ids"].size(1)) >= 16  # the path under test does run
    assert trainer._shared_prefix_applies(trainer.model)

    trainer.remember_batch_prefix(inputs)  # as generating the batch does: every micro-batch cuts at one prefix
    micro_batches = split_tensor_dict(inputs, 3)  # the micro-batches of one step share one prefix computation
    trainer.shared_prefix_training = False
    plain_loss, plain_grads = loss_and_grads(trainer, micro_batches)
    trainer.shared_prefix_training = True
    computed = []
    tails_kv = trainer._tails_kv
    trainer._tails_kv = lambda backbone, lay, shared: computed.append(
        sum(t not in shared.where for t in lay.tails if t)) or tails_kv(backbone, lay, shared)
    loss, grads = loss_and_grads(trainer, micro_batches)
    del trainer._tails_kv
    assert computed == [2, 1, 0]  # each question's tail runs once per step
    assert plain_loss != 0
    torch.testing.assert_close(loss, plain_loss, rtol=1e-4, atol=1e-6)
    assert grads.keys() == plain_grads.keys() and all(g.abs().sum() > 0 for g in grads.values())
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain_grads[name], rtol=1e-3, atol=1e-6, msg=name)

    logps, entropies, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, inputs["completion_ids"].size(1),
                                                                     compute_entropy=True)
    trainer.shared_prefix_training = False
    plain_logps, plain_entropies, _ = trainer._get_per_token_logps_and_entropies(
        trainer.model, ids, mask, inputs["completion_ids"].size(1), compute_entropy=True)
    real = inputs["completion_mask"].bool()
    torch.testing.assert_close(logps[real], plain_logps[real], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(entropies[real], plain_entropies[real], rtol=1e-4, atol=1e-5)
    assert (logps[~real] == 0).all()


def _length_reward(completions, **kwargs):
    """A reward that varies within a group without any learning: the rollouts' lengths mod 3."""
    return [float(len(str(c)) % 3) for c in completions]


@pytest.mark.slow
def test_a_real_grpo_step_updates_the_weights_as_trls_pass_does(tmp_path, tiny_trainer):
    weights = {}
    for shared in (False, True):
        trainer = tiny_trainer(tmp_path / str(shared), "use_lora=false", "per_device_train_batch_size=4",
                               "gradient_accumulation_steps=2", "learning_rate=1e-3", "warmup_steps=0",
                               "lr_scheduler_type=constant", "optim=sgd",  # Adam would turn rounding into sign flips
                               f"shared_prefix={str(shared).lower()}",
                               rewards=([_length_reward], [1.0]))
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        trainer.train()
        assert trainer._pending == {}  # flushed by the step's last micro-batch
        weights[shared] = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    moved = [n for n in before if not torch.equal(before[n], weights[True][n])]
    assert len(moved) > 0.9 * len(before)
    for name in before:
        torch.testing.assert_close(weights[True][name], weights[False][name], rtol=1e-4, atol=1e-6, msg=name)
