"""Generation throughput: our transformers backend vs plain `model.generate` vs the forward-pass ceiling.

For a batch size B, the same workload (1.5 B multi-conf K=3 prompts of an offline task, T=0.7,
one sample each: more sequences than slots, as in evaluation) is generated three ways, counting real tokens (up to and including EOS):

    ours     HFBackend with B slots (slot refill, shared prompt prefix computed once, seeded rows)
    plain    `model.generate(do_sample=True)` on left-padded batches of B prompts
    ceiling  one no-grad forward pass over our finished sequences (prompt + generated tokens),
             B rows at a time, logits only for the generated part: decoding does at least this
             work, one position at a time, so generated tokens / this time bounds its speed.

Rates use this process's CPU time (one torch thread): on a shared, oversubscribed machine, wall
time mostly measures the other processes, and its load shifts between the three runs.

Run: HF_HUB_OFFLINE=1 python bench/generation_throughput.py [--model smollm2] [--batch-sizes 8 32]
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


def left_padded(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) with every row ending at the last column."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r)
        mask[i, width - len(r) :] = 1
    return ids, mask


def run_ours(model, tokenizer, prompts, batch: int, max_new_tokens: int) -> tuple[float, list[list[int]]]:
    """CPU seconds and each prompt's generated token ids (to EOS) from our backend with `batch` slots."""
    backend = HFBackend(model, tokenizer, batch_size=batch, progress=False)
    rows = [prompt_token_ids(tokenizer, m) for m in prompts]
    generated: dict[int, list[int]] = {}
    start = time.process_time()
    for r, tokens in backend.decode_rows(rows, list(range(len(rows))), SamplingArgs(1, 0.7, 1.0, max_new_tokens)):
        generated[r] = tokens
    return time.process_time() - start, [generated[r] for r in range(len(rows))]


def run_plain(model, tokenizer, prompts, batch: int, max_new_tokens: int) -> tuple[float, int]:
    """CPU seconds and real generated tokens (to EOS) from `model.generate` with its own sampling, `batch` rows at a time."""
    stops = set(HFBackend(model, tokenizer, progress=False).stop_ids)
    rows = [prompt_token_ids(tokenizer, m) for m in prompts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(stops)
    torch.manual_seed(0)
    tokens, start = 0, time.process_time()
    with torch.inference_mode():
        for b in range(0, len(rows), batch):
            ids, mask = left_padded(rows[b : b + batch], pad)
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=0.7, top_p=1.0, top_k=0,
                                 max_new_tokens=max_new_tokens, eos_token_id=sorted(stops), pad_token_id=pad)
            for row in out[:, ids.shape[1] :].tolist():
                tokens += next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
    return time.process_time() - start, tokens


def run_forward(model, tokenizer, prompts, generated: list[list[int]], batch: int) -> float:
    """CPU seconds of one forward pass over each batch of finished sequences, logits for the generated part only."""
    rows = [prompt_token_ids(tokenizer, m) + g for m, g in zip(prompts, generated)]
    pad = tokenizer.pad_token_id or 0
    seconds = 0.0
    with torch.inference_mode():
        for b in range(0, len(rows), batch):
            ids, mask = left_padded(rows[b : b + batch], pad)
            keep = max(len(g) for g in generated[b : b + batch])
            start = time.process_time()
            model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=keep)
            seconds += time.process_time() - start
    return seconds


def measure_generation(model, tokenizer, batch: int, task: str = "procedural-sets", max_new_tokens: int = 64,
                       sequences: int | None = None) -> dict:
    """Generated tokens/s of ours, plain generate and the forward ceiling on `sequences` prompts (1.5 x `batch`)."""
    prompts = prompts_of(task, sequences or batch + batch // 2)
    ours_s, generated = run_ours(model, tokenizer, prompts, batch, max_new_tokens)
    plain_s, plain_tokens = run_plain(model, tokenizer, prompts, batch, max_new_tokens)
    forward_s = run_forward(model, tokenizer, prompts, generated, batch)
    ours_tokens = sum(len(g) for g in generated)
    return {
        "batch": batch, "sequences": len(prompts), "ours_tokens": ours_tokens, "plain_tokens": plain_tokens,
        "ours": ours_tokens / ours_s, "plain": plain_tokens / plain_s, "ceiling": ours_tokens / forward_s,
    }


def warm_up(model, tokenizer) -> None:
    """One short call of each path, so first-call set-up is not timed."""
    prompts = prompts_of("procedural-sets", 2)
    run_ours(model, tokenizer, prompts, 2, 4)
    run_plain(model, tokenizer, prompts, 2, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="model name for load_model")
    parser.add_argument("--task", default="procedural-sets", help="offline task the prompts come from")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32], help="sequences decoded together")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per sequence at most")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 decodes fastest on a shared machine)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model, tokenizer = load_model(args.model)
    warm_up(model, tokenizer)
    print(f"model {args.model} ({model.dtype}), {torch.get_num_threads()} threads, max_new_tokens {args.max_new_tokens}, "
          f"multi-conf K=3 prompts of {args.task}, T=0.7, 1.5 x batch prompts; tok/s per CPU second\n")
    print("| batch | ours tok/s | plain generate tok/s | forward ceiling tok/s | ours / plain | ours / ceiling |")
    print("|---:|---:|---:|---:|---:|---:|")
    for batch in args.batch_sizes:
        r = measure_generation(model, tokenizer, batch, args.task, args.max_new_tokens)
        print(f"| {batch} | {r['ours']:.1f} | {r['plain']:.1f} | {r['ceiling']:.1f} | "
              f"{r['ours'] / r['plain']:.2f}x | {r['ours'] / r['ceiling']:.2f}x |")


if __name__ == "__main__":
    main()
