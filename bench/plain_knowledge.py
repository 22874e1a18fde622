"""What a model knows of the knowledge tasks when asked plainly: pass@1, pass@K and distinct right answers.

    python bench/plain_knowledge.py [--model smollm2] [--tasks place-cities country-languages ...] \
        [--questions 100] [--samples 5] [--out plain.json]

Each task's test questions (a seeded sample of --questions of them) go to the model alone, through
its chat template, with no answer format: the user message is the question and "Answer with the
name only." on its own line (`generation.plain.plain_messages`, what the own-answer warm-up asks). --samples replies per question at temperature 0.7, up to 24 new tokens. Small models
answer in sentences ("The country that borders Germany is Austria."), so a reply is right when it
names a gold answer (`mentioned_gold`: a gold or alias as whole words of the normalised reply, not
one the question itself holds), and the gold it names first is the answer it gave.

Prints one Markdown row per task: questions asked, pass@1 (the mean share of right replies), pass@K
(K = --samples: the share of questions with a right reply), and distinct right answers per question
(different golds named by the K replies), over all questions and over those with a right reply.
These are the untrained model's figures docs/data.md records (issue 19: the real-LM comparison uses
tasks whose plain pass@K is at least 0.3).

A second table says how much the replies' agreement tells of being right, which is what a
confidence stated as a sample frequency (the own-answer warm-up's) can carry: of the distinct
answers taken out of a question's replies (`extract_answer`, grouped as the warm-up groups
them), the share given by one reply only, and how often an answer given by one reply, and by
two or more, is right.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import NamedTuple

from multianswer.core.matching import mentioned_gold
from multianswer.core.metrics import mean, pass_at_k
from multianswer.generation.backends import generate, make_backend
from multianswer.generation.plain import extract_answer, plain_messages
from multianswer.tasks import get_task
from multianswer.tasks.base import Example
from multianswer.training.warmup_sources import answer_groups

DEFAULT_TASKS = ["place-cities", "country-languages", "region-countries", "currency-countries", "state-counties",
                 "geography-mix", "country-borders", "country-cities"]


class PlainScore(NamedTuple):
    """One question's replies: which are right, how many different golds they name, and their answers' agreement."""

    right: list[bool]
    distinct_right: int
    # (replies giving it, right) of each distinct answer taken out of the replies
    agreement: tuple[tuple[int, bool], ...] = ()


def score_replies(replies: list[str], example: Example) -> PlainScore:
    """Right = the reply names a gold answer that the question does not already say."""
    named = [mentioned_gold(reply, example.answers, exclude=example.problem) for reply in replies]
    right = [i is not None for i in named]
    # grouped as the own-answer warm-up groups its samples to state their frequencies
    groups, member = answer_groups([extract_answer(reply, example.problem) for reply in replies])
    agreement = tuple((count, any(ok for ok, m in zip(right, member) if m == g)) for g, (_, count) in enumerate(groups))
    return PlainScore(right, len({i for i in named if i is not None}), agreement)


def agreement(scored: list[PlainScore]) -> dict:
    """Of the distinct answers of every question: the share given by one reply, and the right rate of each kind."""
    answers = [a for s in scored for a in s.agreement]
    once, more = [ok for n, ok in answers if n == 1], [ok for n, ok in answers if n > 1]
    return {"answers": len(answers), "given_once": len(once) / len(answers) if answers else float("nan"),
            "right_once": mean(once), "right_more": mean(more)}  # mean: NaN when empty


def pick_questions(task_name: str, n: int, seed: int) -> list[Example]:
    """A seeded sample of n test questions (all of them when there are fewer), in split order."""
    examples = get_task(task_name).examples("test")
    if n >= len(examples):
        return examples
    keep = set(random.Random(f"{seed}-{task_name}").sample(range(len(examples)), n))
    return [e for i, e in enumerate(examples) if i in keep]


def summary_row(task_name: str, scored: list[PlainScore], k: int) -> dict:
    """The table row of one task: pass@1, pass@k and distinct right answers (all, and solved questions)."""
    solved = [s for s in scored if any(s.right)]
    return {
        "task": task_name,
        "questions": len(scored),
        "pass@1": mean([pass_at_k(len(s.right), sum(s.right), 1) for s in scored]),
        f"pass@{k}": mean([pass_at_k(len(s.right), sum(s.right), k) for s in scored]),
        "distinct_right": mean([s.distinct_right for s in scored]),
        "distinct_right_solved": mean([s.distinct_right for s in solved]),  # NaN when none is solved
    } | agreement(scored)


def measure(backend, task_names: list[str], questions: int, samples: int, temperature: float = 0.7,
            max_new_tokens: int = 24, seed: int = 0) -> tuple[list[dict], dict[str, list[dict]]]:
    """(one summary row per task, the replies of every question per task) for a generation backend."""
    rows, replies = [], {}
    for name in task_names:
        examples = pick_questions(name, questions, seed)
        completions = generate(backend, [plain_messages(e.problem) for e in examples], n=samples, temperature=temperature,
                               max_new_tokens=max_new_tokens, seed=seed)
        texts = [[c.text for c in got] for got in completions]
        scored = [score_replies(t, e) for t, e in zip(texts, examples)]
        rows.append(summary_row(name, scored, samples))
        replies[name] = [{"id": e.id, "question": e.problem, "replies": t, "right": s.right}
                         for e, t, s in zip(examples, texts, scored)]
    return rows, replies


def markdown_table(rows: list[dict], k: int) -> str:
    """The rows as a Markdown table."""
    lines = [f"| task | questions | pass@1 | pass@{k} | distinct right / question | distinct right / solved question |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['task']} | {r['questions']} | {r['pass@1']:.3f} | {r[f'pass@{k}']:.3f} | "
              f"{r['distinct_right']:.2f} | {r['distinct_right_solved']:.2f} |" for r in rows]
    lines += ["", "| task | distinct answers | given by one reply | right, given by one | right, given by more |",
              "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['task']} | {r['answers']} | {r['given_once']:.3f} | {r['right_once']:.3f} | {r['right_more']:.3f} |"
              for r in rows]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="a built-in (smollm2, tiny), hub id or local directory")
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, help="task names (default: the knowledge tasks)")
    parser.add_argument("--questions", type=int, default=100, help="test questions per task (a seeded sample)")
    parser.add_argument("--samples", type=int, default=5, help="replies per question: the K of pass@K")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto", help="auto, hf or vllm")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences decoded together (hf)")
    parser.add_argument("--out", type=Path, help="also write the rows and every reply here as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Ask, score, print the table."""
    args = parse_args(argv)
    start = time.monotonic()
    backend = make_backend(args.model, backend=args.backend, batch_size=args.batch_size, progress=sys.stderr.isatty())
    rows, replies = measure(backend, args.tasks, args.questions, args.samples, args.temperature,
                            args.max_new_tokens, args.seed)
    print(markdown_table(rows, args.samples))
    print(f"\n{args.model}, {args.samples} samples at T = {args.temperature}, {args.max_new_tokens} new tokens, "
          f"seed {args.seed}: {time.monotonic() - start:.0f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                                        "replies": replies}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
