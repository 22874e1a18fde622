"""Warm-up data for the demo's base model: imperfect answers drawn from the gold.

A model made on the spot knows nothing, so the demo fine-tunes it briefly on completions
written from a task's gold answers (plus noise), in the formats it will be asked in: this is
its pre-training, and a task's `pretrain` split (the toy world's) is what it learns from. The
targets are deliberately imperfect, like an instruction model's: single answers are drawn
from the valid answers by their weights (so the model spreads probability over them
unevenly and its K samples repeat), asked for K answers it writes K distinct draws by weight in
the order drawn (what a model that knows each answer's single-answer frequency would write: not
the K most likely, so asking alone does not give the best answer sets), some candidates are
wrong, some answer sets repeat a candidate, and the stated confidences are overconfident (the
squared weights, renormalised) or, where the task knows no weights, uninformative. RL has to
fix exactly those things.

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
    duplicate_rate: float = 0.05  # share of answer sets that repeat a candidate
    overconfidence: float = 2.0  # stated confidence ∝ weight ** this (1: calibrated on the weights)
    overconfidence_spread: float = 0.0  # each target's exponent drawn from overconfidence ± this (0: the one exponent)
    decimals: int = 2  # of the stated confidences (one decimal cannot say 0.05: a rare answer reads 0)
    seed: int = 0
    formats: tuple[AnswerFormat, ...] = tuple(AnswerFormat)  # taught in equal shares
    task_shares: tuple[float, ...] = ()  # each task's share of the examples (empty: the tasks take turns)


def answer_weights(example: Example) -> dict[str, float] | None:
    """How often the warm-up shows each answer: a draw's true odds, or a world set's weights (None: uniform)."""
    return example.metadata.get("probabilities") or example.metadata.get("weights")


def _sample_answers(example: Example, n: int, rng: random.Random) -> list[str]:
    """`n` answers an imperfect model might give: items by their weights with no repeats, else uniform."""
    probs = answer_weights(example)
    if probs:  # sample items by their weight (true probability for draws), no repeats
        items, weights = list(probs), list(probs.values())
        picked: list[str] = []
        while len(picked) < min(n, len(items)):
            item = rng.choices(items, weights)[0]
            if item not in picked:
                picked.append(item)
        return picked + [rng.choice(items) for _ in range(n - len(picked))]
    valid = [a[0] if isinstance(a, (list, tuple)) else a for a in example.answers]
    return rng.sample(valid, min(n, len(valid))) + [rng.choice(valid) for _ in range(n - len(valid))]


def _wrong_answer(answer: str, example: Example, rng: random.Random) -> str:
    """A plausible wrong answer: a near number, another label of the same kind, or a stock word."""
    if answer.isdigit():
        return str(int(answer) + rng.choice([-2, -1, 1, 2]))
    valid = {a[0] if isinstance(a, (list, tuple)) else a for a in example.answers}
    others = [label for label in example.metadata.get("labels", ()) if label not in valid]
    return rng.choice(others or ["purple", "none", "0"])


def stated_confidences(example: Example, answers: list[str], n: int, sharpen: float, rng: random.Random,
                       decimals: int = 2) -> list[float]:
    """Confidences an overconfident model states: weight ** sharpen renormalised, to `decimals`; else random."""
    weights = answer_weights(example)
    if not weights:  # uninformative: the model learns to write numbers, not what they mean
        return sorted((round(rng.uniform(0.05, 0.95 / n), 2) for _ in range(n)), reverse=True)
    total = sum(w**sharpen for w in weights.values())
    # each candidate in its place; a repeated candidate states nothing more
    stated = [0.0 if a in answers[:i] else round(weights.get(a, 0.0) ** sharpen / total, decimals)
              for i, a in enumerate(answers)]
    while sum(stated) > 1.0 + 1e-9:  # rounding up may pass 1: take one unit of the last decimal off the largest
        top = stated.index(max(stated))
        stated[top] = round(stated[top] - 10**-decimals, decimals)
    return stated


def warmup_completion(example: Example, fmt: AnswerFormat, k: int, args: DemoWarmupArgs, rng: random.Random) -> str:
    """One imperfect target completion for `example` in format `fmt`."""
    n = fmt.answers_per_completion(k)
    # asked for K: K distinct draws by weight, in the order drawn, not the true top K. The warm-up teaches the
    # world (each answer's frequency), not the best answer sets: what asking alone gives is left for RL to improve
    answers = _sample_answers(example, n, rng)
    if not example.metadata.get("probabilities"):  # a draw's every item can be right: nothing to make wrong
        answers = [_wrong_answer(a, example, rng) if rng.random() < args.wrong_rate else a for a in answers]
    if n > 1 and rng.random() < args.duplicate_rate:
        answers[-1] = answers[0]
    confidences = None
    if fmt.has_confidence:  # with a spread, targets state varied confidence levels: GRPO groups then can compare some
        sharpen = args.overconfidence + (rng.uniform(-1, 1) * args.overconfidence_spread if args.overconfidence_spread else 0.0)
        confidences = stated_confidences(example, answers, n, sharpen, rng, args.decimals)
    # a leading space makes " purple" in an answer the same token as in "5 purple, 9 orange":
    # copying from the question is then one lookup for a tiny model (the parser strips it)
    return format_completion([" " + a for a in answers], fmt, confidences, think=rng.choice(THINKS))


def warmup_pairs(tasks: Sequence[Task], n: int, args: DemoWarmupArgs) -> list[tuple[list[dict], str]]:
    """`n` (prompt messages, target completion) pairs over `tasks` and `args.formats`."""
    rng = random.Random(args.seed)
    # a task's pre-training split where it has one (the world's); lazy: only drawn examples are built
    pools = [task.load("pretrain" if "pretrain" in task.splits else "train") for task in tasks]
    if args.task_shares and len(args.task_shares) != len(tasks):
        raise ValueError(f"task_shares has {len(args.task_shares)} shares for {len(tasks)} tasks")
    pairs, taken = [], [0] * len(tasks)
    for i in range(n):
        # with shares, the task furthest behind its share goes next: a fixed schedule that draws nothing from rng
        j = (max(range(len(tasks)), key=lambda t: args.task_shares[t] * (i + 1) - taken[t]) if args.task_shares
             else i % len(tasks))
        taken[j] += 1
        task, pool = tasks[j], pools[j]
        example = pool[rng.randrange(len(pool))]
        fmt = rng.choice(args.formats)
        k = fmt.answers_per_completion(args.k)
        pairs.append((prompt_messages(example, task, fmt, k), warmup_completion(example, fmt, k, args, rng)))
    return pairs
