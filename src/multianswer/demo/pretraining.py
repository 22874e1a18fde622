"""Warm-up data for the demo's base model: imperfect answers drawn from the gold.

A model made on the spot knows nothing, so the demo fine-tunes it briefly on completions
written from the procedural tasks' gold answers (plus noise), in all four formats. The
targets are deliberately imperfect, like an instruction model's: single answers are drawn
from the valid answers (so the model spreads probability over them, and over the stated
odds for draws), some candidates are wrong, some answer sets repeat a candidate, and the
confidences are uninformative. RL has to fix exactly those things.

(`multianswer.training.format_warmup` is the task-agnostic format warm-up of `multianswer train`; it
also provides the supervised loop used here.)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from multianswer.core.formats import AnswerFormat, format_completion
from multianswer.tasks.base import Example, Task, prompt_messages

THINKS = ("I weigh the options.", "Several answers fit.", "I check each option.", "Let me think.")


@dataclass
class DemoWarmupArgs:
    """Options of the demo's supervised warm-up."""

    steps: int = 300  # optimizer steps
    batch_size: int = 16
    lr: float = 3e-3
    k: int = 3  # candidates in the multi formats
    wrong_rate: float = 0.2  # share of candidates replaced by a wrong answer
    duplicate_rate: float = 0.15  # share of answer sets that repeat a candidate
    seed: int = 0


def _sample_answers(example: Example, n: int, rng: random.Random) -> list[str]:
    """`n` answers an imperfect model might give: draws follow the stated odds, sets are uniform."""
    probs = example.metadata.get("probabilities")
    if probs:  # irreducible uncertainty: sample items by their true probability, no repeats
        items, weights = list(probs), list(probs.values())
        picked: list[str] = []
        while len(picked) < min(n, len(items)):
            item = rng.choices(items, weights)[0]
            if item not in picked:
                picked.append(item)
        return picked + [rng.choice(items) for _ in range(n - len(picked))]
    valid = [a[0] if isinstance(a, (list, tuple)) else a for a in example.answers]
    return rng.sample(valid, min(n, len(valid))) + [rng.choice(valid) for _ in range(n - len(valid))]


def _wrong_answer(answer: str, rng: random.Random) -> str:
    return str(int(answer) + rng.choice([-2, -1, 1, 2])) if answer.isdigit() else rng.choice(["purple", "none", "0"])


def warmup_completion(example: Example, fmt: AnswerFormat, k: int, args: DemoWarmupArgs, rng: random.Random) -> str:
    """One imperfect target completion for `example` in format `fmt`."""
    n = fmt.answers_per_completion(k)
    answers = _sample_answers(example, n, rng)
    answers = [_wrong_answer(a, rng) if rng.random() < args.wrong_rate else a for a in answers]
    if n > 1 and rng.random() < args.duplicate_rate:
        answers[-1] = answers[0]
    confidences = None
    if fmt.has_confidence:  # uninformative: the model learns to write numbers, not what they mean
        confidences = sorted((round(rng.uniform(0.05, 0.95 / n), 2) for _ in range(n)), reverse=True)
    # a leading space makes " purple" in an answer the same token as in "5 purple, 9 orange":
    # copying from the question is then one lookup for a tiny model (the parser strips it)
    return format_completion([" " + a for a in answers], fmt, confidences, think=rng.choice(THINKS))


def warmup_pairs(tasks: Sequence[Task], n: int, args: DemoWarmupArgs) -> list[tuple[list[dict], str]]:
    """`n` (prompt messages, target completion) pairs over `tasks` and all four formats."""
    rng = random.Random(args.seed)
    pools = [task.load("train") for task in tasks]  # lazy: only the drawn examples are built
    pairs = []
    for i in range(n):
        task, pool = tasks[i % len(tasks)], pools[i % len(tasks)]
        example = pool[rng.randrange(len(pool))]
        fmt = rng.choice(list(AnswerFormat))
        k = fmt.answers_per_completion(args.k)
        pairs.append((prompt_messages(example, task, fmt, k), warmup_completion(example, fmt, k, args, rng)))
    return pairs
