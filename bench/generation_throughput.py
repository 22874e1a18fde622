"""Generation throughput of the transformers backend beside the model's plain forward-pass ceiling.

For each batch size: generate once (multi-conf K=3 prompts of an offline task, T=0.7) and count
generated tokens per second; then run ONE forward pass over the same batch of full sequences
(prompt + generation, as generate built them) and count the tokens it processes per second.
The forward pass is the ceiling: decoding does the same work one position at a time.

Run: HF_HUB_OFFLINE=1 python bench/generation_throughput.py [--model smollm2] [--batch-sizes 1 4 16]
"""

from __future__ import annotations

import argparse
import time

import torch

from multianswer.generation.backends import HFBackend, SamplingArgs, prompt_token_ids
from multianswer.models.loading import load_model
from multianswer.tasks import get_task, prompt_messages


def prompts_of(task_name: str, n: int, k: int = 3) -> list[list[dict]]:
    """n multi-conf chat prompts from an offline task (repeated when the task is shorter)."""
    task = get_task(task_name)
    examples = task.examples("test", n)
    return [prompt_messages(examples[i % len(examples)], task, "multi-conf", k) for i in range(n)]


def time_generation(backend: HFBackend, prompts, args: SamplingArgs) -> tuple[float, int, int]:
    """Seconds, generated tokens (up to EOS) and decode steps × rows for one batch."""
    start = time.perf_counter()
    completions = [c for _, cs in backend.stream(prompts, args, seed=0) for c in cs]
    seconds = time.perf_counter() - start
    tokens = sum(c.n_tokens for c in completions)
    return seconds, tokens, max(c.n_tokens for c in completions) * len(completions)


def time_forward(model, tokenizer, prompts, new_tokens: int, repeat: int = 2) -> tuple[float, int]:
    """Best seconds of one no-grad forward over (batch, prompt + new_tokens) and the tokens it covers."""
    rows = [prompt_token_ids(tokenizer, m) for m in prompts]
    width = max(len(r) for r in rows) + new_tokens
    ids = torch.full((len(rows), width), tokenizer.pad_token_id or 0, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):  # left padded, like generate's input; the tail stands for the generated tokens
        ids[i, width - len(r) - new_tokens : width - new_tokens] = torch.tensor(r)
        ids[i, width - new_tokens :] = r[-1]
        mask[i, width - len(r) - new_tokens :] = 1
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeat):
            start = time.perf_counter()
            model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), use_cache=False)
            best = min(best, time.perf_counter() - start)
    return best, int(mask.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="model name for load_model")
    parser.add_argument("--task", default="procedural-sets", help="offline task the prompts come from")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16], help="sequences per batch")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per sequence at most")
    args = parser.parse_args()

    model, tokenizer = load_model(args.model)
    sampling = SamplingArgs(n=1, temperature=0.7, max_new_tokens=args.max_new_tokens)
    warm = HFBackend(model, tokenizer, batch_size=2, progress=False)
    time_generation(warm, prompts_of(args.task, 2), SamplingArgs(n=1, max_new_tokens=4))  # first-call set-up

    print(f"model {args.model} on {model.device} ({model.dtype}), {torch.get_num_threads()} threads, "
          f"max_new_tokens {args.max_new_tokens}, multi-conf K=3 prompts of {args.task}\n")
    print("| batch | prompt tokens (mean) | generated tokens | generate s | generate tok/s | "
          "decode slots tok/s | forward tok/s (ceiling) | generate / ceiling |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in args.batch_sizes:
        prompts = prompts_of(args.task, batch)
        backend = HFBackend(model, tokenizer, batch_size=batch, progress=False)
        seconds, tokens, slots = time_generation(backend, prompts, sampling)
        fwd_seconds, fwd_tokens = time_forward(model, tokenizer, prompts, args.max_new_tokens)
        prompt_len = sum(len(prompt_token_ids(tokenizer, m)) for m in prompts) / batch
        gen_rate, ceiling = tokens / seconds, fwd_tokens / fwd_seconds
        print(f"| {batch} | {prompt_len:.0f} | {tokens} | {seconds:.2f} | {gen_rate:.1f} | {slots / seconds:.1f} | "
              f"{ceiling:.0f} | {gen_rate / ceiling:.1%} |")
    print("\ngenerate tok/s counts tokens up to each EOS; decode slots count every row at every step "
          "(finished rows still compute until the longest one ends).")


if __name__ == "__main__":
    main()
