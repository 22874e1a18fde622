"""Generation backends: seeded per-row sampling, batching that does not change samples, token counts, vLLM glue."""

from __future__ import annotations

import hashlib
import json
import sys
import types

import pytest
import torch

from multianswer.cli import main
from multianswer.core.errors import UserError
from multianswer.core.formats import chat_messages, format_completion
from multianswer.generation.answers import generate_answers
from multianswer.generation.backends import (
    Completion, HFBackend, ReplayBackend, SamplingArgs, SeededSampler, VLLMBackend, derive_seed, generate,
    make_backend, render_prompt,
)


def test_derive_seed_is_stable_across_processes():
    # sha256-based, not Python's salted hash(): the same everywhere
    assert derive_seed(0, "q1") == derive_seed(0, "q1") != derive_seed(1, "q1")
    assert derive_seed(0, "q1") == int.from_bytes(hashlib.sha256(b"0\x1fq1").digest()[:8], "big") >> 1
    assert 0 <= derive_seed("x") < 2**63


def test_seeded_sampler_follows_the_distribution_and_top_p():
    logits = torch.log(torch.tensor([[0.6, 0.3, 0.1, 0.0]])).repeat(4000, 1)
    picks = SeededSampler(range(4000), temperature=1.0)(None, logits).argmax(-1)
    freq = torch.bincount(picks, minlength=4).float() / 4000
    assert torch.allclose(freq, torch.tensor([0.6, 0.3, 0.1, 0.0]), atol=0.03)
    # top_p 0.7 keeps {0.6, 0.3}: the smallest prefix reaching 0.7
    picks = SeededSampler(range(4000), temperature=1.0, top_p=0.7)(None, logits).argmax(-1)
    assert set(picks.tolist()) == {0, 1}
    # only the chosen token survives, so greedy decoding takes it
    out = SeededSampler([5], temperature=0.7)(None, logits[:1])
    assert torch.isfinite(out).sum() == 1
    # a row's choice depends on its seed only, not on the other rows
    alone = SeededSampler([42], 1.0)(None, logits[:1]).argmax(-1)
    together = SeededSampler([1, 42, 3], 1.0)(None, logits[:3]).argmax(-1)
    assert alone.item() == together[1].item()


def test_sampling_args_are_checked():
    with pytest.raises(ValueError):
        SamplingArgs(n=0)
    with pytest.raises(ValueError):
        SamplingArgs(top_p=0.0)
    assert SamplingArgs(temperature=0).greedy


def test_replay_backend_and_generate_answers_ranks_by_confidence():
    text = format_completion(["Lyon", "Paris", "Nice"], "multi-conf", [0.2, 0.7, 0.1])
    backend = ReplayBackend({"Capital of France?": [text]})
    [result] = generate_answers(backend, ["Capital of France?"], k=3)
    assert [a["answer"] for a in result["answers"]] == ["Paris", "Lyon", "Nice"]
    assert [a["confidence"] for a in result["answers"]] == [0.7, 0.2, 0.1]
    assert result["format_ok"] and result["n_tokens"] == len(text.split())
    with pytest.raises(KeyError, match="no 1 replay"):
        generate(backend, [chat_messages("Other?", "multi", 3)])


def test_unknown_backend_is_a_user_error():
    with pytest.raises(UserError, match="unknown backend"):
        make_backend("tiny", backend="tpu")


PROMPTS = [chat_messages(f"What is {i} + {2 * i}?" + " Think hard." * i, "multi-conf", 3) for i in range(5)]


@pytest.mark.slow
def test_hf_batching_does_not_change_samples(tiny):
    model, tok = tiny
    kwargs = dict(n=2, temperature=0.8, max_new_tokens=10, seed=3)
    batched = generate(HFBackend(model, tok, batch_size=6, progress=False), PROMPTS, **kwargs)
    one_by_one = generate(HFBackend(model, tok, batch_size=1, progress=False), PROMPTS, **kwargs)
    assert batched == one_by_one
    assert HFBackend(model, tok, batch_size=6, progress=False).generate(PROMPTS, **kwargs) == batched
    assert [len(c) for c in batched] == [2] * 5
    assert batched[0][0] != batched[0][1]  # two samples of one prompt differ
    other_seed = generate(HFBackend(model, tok, batch_size=6, progress=False), PROMPTS, **{**kwargs, "seed": 4})
    assert other_seed != batched
    # a prompt's samples depend on its own seed, not its position in the list
    seeds = [derive_seed(3, i) for i in range(5)]
    tail = generate(HFBackend(model, tok, batch_size=6, progress=False), PROMPTS[2:], **{**kwargs, "seed": seeds[2:]})
    assert tail == batched[2:]


@pytest.mark.slow
def test_hf_token_counts_and_greedy(tiny):
    model, tok = tiny
    backend = HFBackend(model, tok, batch_size=4, progress=False)
    greedy = generate(backend, PROMPTS[:3], n=3, temperature=0.0, max_new_tokens=8)
    for completions in greedy:
        assert completions[0] == completions[1] == completions[2]  # greedy: one generation, repeated
    assert greedy[1][0] == generate(HFBackend(model, tok, batch_size=1, progress=False), PROMPTS[1:2],
                                    temperature=0.0, max_new_tokens=8)[0][0]
    # token counts come from the generated ids: EOS stops early, otherwise the budget is used up
    eos = tok.eos_token_id
    assert backend._completion([5, 6, eos, eos, eos]).n_tokens == 3
    assert backend._completion([5, 6, 7]).n_tokens == 3
    assert backend._completion([5, 6, eos]).text == tok.decode([5, 6])
    for completions in generate(backend, PROMPTS, n=1, temperature=1.0, max_new_tokens=8, seed=0):
        assert 1 <= completions[0].n_tokens <= 8


def test_prompt_is_the_chat_template_with_the_assistant_turn_open(tiny):
    _, tok = tiny
    text = render_prompt(tok, PROMPTS[0])
    assert text.endswith("<|im_start|>assistant\n") and "What is 0 + 0?" in text


@pytest.mark.slow
def test_generate_cli_prints_answer_sets(capsys):
    assert main(["generate", "--model", "tiny", "--k", "2", "--max-new-tokens", "6", "What is 1 + 1?", "Name a color."]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["question"] for r in results] == ["What is 1 + 1?", "Name a color."]
    for r in results:
        assert set(r) == {"question", "answers", "format_ok", "reason", "n_tokens"} and 1 <= r["n_tokens"] <= 6


class _FakeOutput:
    def __init__(self, text, ids):
        self.text, self.token_ids = text, ids


class _FakeLLM:
    """Stands in for vllm.LLM: records the documented call shape and answers per prompt."""

    calls: list = []

    def __init__(self, model, dtype="auto", **kw):
        self.model, self.dtype = model, dtype

    def generate(self, prompts, sampling_params, use_tqdm=True):
        _FakeLLM.calls.append((prompts, sampling_params))
        assert len(prompts) == len(sampling_params)
        return [types.SimpleNamespace(outputs=[_FakeOutput(f"out{j}", [1] * (j + 2)) for j in range(p.n)])
                for p in sampling_params]


def test_vllm_backend_uses_token_prompts_and_per_prompt_seeds(monkeypatch, tiny):
    fake = types.ModuleType("vllm")
    fake.LLM = _FakeLLM
    fake.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    _, tok = tiny
    backend = VLLMBackend("/some/model", tok, chunk=2)
    out = generate(backend, PROMPTS[:3], n=2, temperature=0.7, max_new_tokens=9, seed=[11, 12, 13])
    assert out[2] == [Completion("out0", 2), Completion("out1", 3)]
    prompts, params = _FakeLLM.calls[0]
    assert len(_FakeLLM.calls) == 2 and len(prompts) == 2  # chunks of 2 prompts
    # the same rendered prompt as the transformers backend
    assert prompts[0]["prompt_token_ids"] == tok(render_prompt(tok, PROMPTS[0]), add_special_tokens=False)["input_ids"]
    assert [p.seed for p in params] == [11, 12] and params[0].max_tokens == 9 and params[0].n == 2
    # our dtype names reach vLLM in its own spelling
    assert VLLMBackend("/some/model", tok, dtype="bf16").llm.dtype == "bfloat16"
    assert VLLMBackend("/some/model", tok).llm.dtype == "auto"
