"""Parse and reward throughput on synthetic completions (completions/s). Run: python bench/parse_throughput.py"""

from __future__ import annotations

import random
import time

from multianswer.core.formats import format_completion, parse_completion
from multianswer.core.rewards import build_rewards
from multianswer.core.scoring import _score_cached


def make_completions(n: int, k: int, seed: int = 0) -> list[str]:
    """Realistic multi-conf completions: ~1 KB of reasoning, K answers, a few broken ones."""
    rng = random.Random(seed)
    words = "the patient has fever cough and pain so the likely causes are several".split()
    out = []
    for i in range(n):
        think = " ".join(rng.choice(words) for _ in range(rng.randint(100, 250)))
        answers = [f"answer {rng.randint(0, 50)} {j}" for j in range(k)]
        confs = [round(rng.random() / k, 2) for _ in range(k)]
        text = format_completion(answers, "multi-conf", confs, think=think, grouped=i % 2 == 0)
        out.append(text[: rng.randint(len(text) // 2, len(text))] if i % 10 == 0 else text)  # 10 % truncated
    return out


def bench(label: str, fn, items: list, repeat: int = 3) -> tuple[str, float]:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(items)
        best = min(best, time.perf_counter() - start)
    return label, len(items) / best


def main() -> None:
    k, n = 3, 20_000
    comps = make_completions(n, k)
    gold = [["answer 7 0"]] * n
    funcs, _ = build_rewards("multi-rlcr", k)

    def rewards(items):
        _score_cached.cache_clear()  # measure the parse + verify work, not cache hits
        for f in funcs:
            f(prompts=None, completions=items, answers=gold)

    rows = [
        bench("parse_completion (multi-conf, K=3)", lambda items: [parse_completion(c, "multi-conf", k) for c in items], comps),
        bench("multi-rlcr rewards (3 functions, shared parse)", rewards, comps),
    ]
    mean_len = sum(map(len, comps)) / n
    print(f"{n} completions, mean {mean_len:.0f} characters, K={k}")
    print(f"| {'what':<48} | {'completions/s':>13} |")
    print(f"|{'-' * 50}|{'-' * 15}|")
    for label, rate in rows:
        print(f"| {label:<48} | {rate:>13,.0f} |")


if __name__ == "__main__":
    main()
