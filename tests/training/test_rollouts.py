"""GRPO rollouts with slot refill: when they apply, and that they are seeded completions TRL can train on."""

from __future__ import annotations

import pytest
import torch

from multianswer.training.config import load_config
from multianswer.training.trainer import build_trainer, resolve


def _trainer(tmp_path, *overrides):
    cfg = resolve(load_config(None, [
        "task=procedural-draws", "model=tiny", "use_lora=false", "num_generations=4", "per_device_train_batch_size=4",
        "max_completion_length=12", "max_steps=1", "report_to=[]", f"output_dir={tmp_path}", *overrides,
    ]))
    return build_trainer(cfg)


@pytest.mark.slow
def test_refill_rollouts_are_seeded_and_end_like_trls(tmp_path):
    trainer = _trainer(tmp_path)
    assert trainer.refill_rollouts
    tok = trainer.processing_class
    prompts = [tok.apply_chat_template([{"role": "user", "content": f"Name {i}."}], add_generation_prompt=True)
               for i in range(3)]
    prompts = [p["input_ids"] if hasattr(p, "keys") else p for p in prompts for _ in range(4)]
    first, logprobs = trainer._generate_single_turn(prompts, None, {}, 4)
    again, _ = trainer._generate_single_turn(prompts, None, {}, 4)
    assert logprobs is None and first == again  # same step, same seeds
    assert len(first) == 12 and first[0] != first[1]  # one completion per row; a group's rows differ
    for completion in first:  # TRL's shape: up to max_completion_length, cut after the first EOS
        assert 1 <= len(completion) <= 12
        stops = [i for i, t in enumerate(completion) if t in trainer.eos_token_ids]
        assert stops in ([], [len(completion) - 1])
    trainer.state.global_step += 1
    assert trainer._generate_single_turn(prompts, None, {}, 4)[0] != first  # a new step samples anew


@pytest.mark.slow
@pytest.mark.parametrize("override", ["rollout_slots=0", "top_k=5", "repetition_penalty=1.1"])
def test_trls_own_generate_path_when_refill_would_sample_differently(tmp_path, override):
    assert not _trainer(tmp_path, override).refill_rollouts


@pytest.mark.slow
def test_lora_merged_rollouts_sample_the_same_and_leave_the_adapter_unmerged(tmp_path):
    trainer = _trainer(tmp_path, "use_lora=true")
    model = trainer.model
    with torch.no_grad():  # a non-zero adapter, so merging changes the weights it decodes with
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    tok = trainer.processing_class
    prompt = tok.apply_chat_template([{"role": "user", "content": "Name 3."}], add_generation_prompt=True)
    prompts = [prompt["input_ids"] if hasattr(prompt, "keys") else prompt] * 8
    merged, _ = trainer._generate_single_turn(prompts, None, {}, 4)
    assert not any(getattr(m, "merged", False) for m in model.modules())
    for name, param in model.named_parameters():
        torch.testing.assert_close(param, before[name], rtol=0, atol=1e-6, msg=name)
    trainer.merge_lora_for_rollouts = False
    assert trainer._generate_single_turn(prompts, None, {}, 4)[0] == merged
