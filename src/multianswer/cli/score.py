"""`multianswer score`: parse completions, verify their candidates and print each reward.

Useful to check a reward configuration by hand, or to score completions written elsewhere.
Input: a JSONL file (or '-' for stdin) whose rows have `completion` and `answers`
(and optionally `verifier`), or one completion given with --completion and --answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator

from multianswer.core.errors import UserError
from multianswer.core.rewards import METHOD_FORMATS, METHODS, build_rewards
from multianswer.core.scoring import score_completion
from multianswer.tasks.sources import jsonl_objects


def score_rows(rows: Iterable[dict], method: str = "multi-rlcr", k: int = 3, correctness: str = "any") -> Iterator[dict]:
    """For each row ({completion, answers[, verifier]}): its parsed answer set, correctness and rewards."""
    funcs, weights = build_rewards(method, k, correctness)
    fmt = METHOD_FORMATS[method]
    for n, row in enumerate(rows, 1):
        if "completion" not in row or "answers" not in row:
            raise UserError(f"row {n}: needs the fields 'completion' and 'answers', has {sorted(row)}")
        cols = {"answers": [row["answers"]], "verifier": [row.get("verifier")]}
        rewards = {f.__name__: f(prompts=[""], completions=[row["completion"]], **cols)[0] for f in funcs}
        s = score_completion(row["completion"], fmt, fmt.answers_per_completion(k), row["answers"], row.get("verifier"))
        yield s.fields() | {
            "verifier_error": s.verifier_error,
            "rewards": rewards,
            "total": sum(w * rewards[f.__name__] for f, w in zip(funcs, weights)),
        }


def _read_jsonl(path: str) -> Iterator[dict]:
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    with stream:
        yield from (row for _, row in jsonl_objects(stream, path))


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `multianswer score`."""
    parser.add_argument("file", nargs="?", help="JSONL with 'completion' and 'answers' per row ('-' for stdin)")
    parser.add_argument("--completion", help="score this one completion instead of a file")
    parser.add_argument("--answers", nargs="+", help="gold answers for --completion")
    parser.add_argument("--method", default="multi-rlcr", choices=METHODS, help="reward set (and format) to score with")
    parser.add_argument("--k", type=int, default=3, help="number of candidates the format asks for")
    parser.add_argument("--correctness", default="any", choices=("any", "count"), help="multi-answer correctness mode")


def run(args: argparse.Namespace) -> int:
    """Run `multianswer score`."""
    if args.completion is not None:
        if not args.answers:
            raise UserError("--completion needs --answers")
        rows: Iterable[dict] = [{"completion": args.completion, "answers": args.answers}]
    elif args.file:
        rows = _read_jsonl(args.file)
    else:
        raise UserError("give a JSONL file (or '-') or --completion with --answers")
    if args.k < 1:
        raise UserError(f"--k must be at least 1, got {args.k}")
    for result in score_rows(rows, args.method, args.k, args.correctness):
        print(json.dumps(result, ensure_ascii=False))
    return 0
