"""Generated tokens per second: a model behind an OpenAI-compatible server against our transformers backend.

Both generate for the same prompts (multi-conf K=3 prompts of an offline task, T=0.7) in one run:
the local HFBackend at one batch size, then the server through OpenAIBackend at each concurrency.
Token counts are the backends' own (local: up to EOS; served: the response's usage). The server
is started beforehand, on the same model, e.g. for SmolLM2 on CPU:

    OMP_NUM_THREADS=1 transformers serve $(python -c "from multianswer.models.loading import model_path; \\
        print(model_path('smollm2'))") --port 8123 --device cpu --dtype float32 [--continuous-batching]

Run: HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python bench/served_throughput.py --base-url http://localhost:8123/v1
"""

from __future__ import annotations

import argparse
import time

import torch

from generation_throughput import prompts_of  # the same prompts as the local throughput bench (bench/ is on sys.path)

from multianswer.generation.backends import HFBackend, SamplingArgs, make_backend
from multianswer.models.loading import load_model, model_path


def tokens_per_second(backend, prompts, args: SamplingArgs) -> tuple[float, int, float]:
    """(seconds, generated tokens, tokens per second) of one pass over `prompts`."""
    start = time.perf_counter()
    tokens = sum(c.n_tokens for _, cs in backend.stream(prompts, args, seed=0) for c in cs)
    seconds = time.perf_counter() - start
    return seconds, tokens, tokens / seconds


def main() -> None:
    """Print a table of tokens per second and the ratio of each row to the local backend."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", required=True, help="the running server, up to /v1")
    parser.add_argument("--model", default="smollm2", help="built-in name or directory (the server's model)")
    parser.add_argument("--served-name", default=None, help="the model's name on the server (default: its path)")
    parser.add_argument("--task", default="country-borders", help="offline task whose test questions are the prompts")
    parser.add_argument("--prompts", type=int, default=16, help="number of prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="generated tokens per completion at most")
    parser.add_argument("--batch-size", type=int, default=8, help="local backend batch size")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8], help="served backend concurrencies")
    opts = parser.parse_args()

    torch.set_num_threads(1)
    prompts = prompts_of(opts.task, opts.prompts)
    sampling = SamplingArgs(n=1, temperature=0.7, max_new_tokens=opts.max_new_tokens)
    model, tokenizer = load_model(opts.model, dtype="fp32", device="cpu")
    rows = [("local transformers, batch %d" % opts.batch_size,
             tokens_per_second(HFBackend(model, tokenizer, opts.batch_size, progress=False), prompts, sampling))]
    served = opts.served_name or model_path(opts.model)
    for concurrency in opts.concurrency:
        backend = make_backend(served, "openai", progress=False, base_url=opts.base_url, concurrency=concurrency)
        rows.append((f"served, {concurrency} in flight", tokens_per_second(backend, prompts, sampling)))

    anchor = rows[0][1][2]
    print(f"{opts.prompts} prompts, up to {opts.max_new_tokens} new tokens, T=0.7\n")
    print("| backend | seconds | tokens | tokens/s | × local |\n|---|---:|---:|---:|---:|")
    for name, (seconds, tokens, rate) in rows:
        print(f"| {name} | {seconds:.1f} | {tokens} | {rate:.1f} | {rate / anchor:.2f} |")


if __name__ == "__main__":
    main()
