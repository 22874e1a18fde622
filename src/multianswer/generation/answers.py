"""`multianswer generate`: ask a model questions and get its answer sets with confidences as JSON.

This is how a trained model is used: one generation per question gives K ranked candidates,
most confident first. Single-answer formats sample the question k times instead (one answer
each), so the two kinds of model can be used the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from multianswer.core.errors import UserError
from multianswer.core.formats import (
    FORMAT_NAMES, PROMPT_STYLES, AnswerFormat, as_format, chat_messages, parse_completion, rules_of, with_rules,
)
from multianswer.core.metrics import order_by_confidence
from multianswer.generation.backends import BACKENDS
from multianswer.generation.openai import add_server_options, server_options
from multianswer.generation.options import check_sampling


def generate_answers(
    model: Any,
    questions: Sequence[str],
    k: int = 3,
    fmt: AnswerFormat | str = "multi-conf",
    *,
    temperature: float | None = None,
    top_p: float = 1.0,
    max_new_tokens: int = 512,
    seed: int = 0,
    instruction: str = "",
    prompt_style: str = "paper",
    batch_size: int = 16,
    backend: str = "auto",
    progress: bool = False,
    **server: Any,
) -> list[dict]:
    """Answer sets for `questions`: [{question, answers: [{answer, confidence}], format_ok, reason, completion, n_tokens}].

    `model` is a name for `models.load_model`, a (model, tokenizer) pair, or a generation
    backend. Answers are ordered most confident first (written order without confidences).
    Temperature defaults to greedy for multi formats and 0.7 for single formats (k samples).
    `prompt_style` ('paper' or 'short') should be the one the model was trained with.
    With backend 'openai', `model` is a served model's name and `server` holds base_url,
    concurrency, request_timeout and retries (see generation.openai).
    """
    from multianswer.generation.backends import derive_seed, generate, make_backend

    try:
        fmt = as_format(fmt)
        fmt = with_rules(fmt, replace(rules_of(fmt), prompt_style=prompt_style))  # other rules a RuledFormat has stay
    except ValueError as err:
        raise UserError(str(err)) from None
    if k < 1:
        raise UserError(f"k must be at least 1, got {k}")
    if temperature is None:
        temperature = 0.0 if fmt.is_multi else 0.7
    check_sampling(temperature, top_p, max_new_tokens)  # before a model is loaded
    gen = make_backend(model, backend, batch_size, progress=progress, **server)
    k_prompt, n = (k, 1) if fmt.is_multi else (1, k)  # one K-answer generation, or k one-answer samples
    prompts = [chat_messages(q, fmt, k_prompt, instruction) for q in questions]
    seeds = [derive_seed(seed, q) for q in questions]  # a question gets the same answers in any list
    results = generate(gen, prompts, n, temperature, top_p, max_new_tokens, seeds)
    return [_answer_set(q, completions, fmt, k_prompt) for q, completions in zip(questions, results)]


def _answer_set(question: str, completions: list, fmt: AnswerFormat, k_prompt: int) -> dict:
    answers, parsed_all = [], []
    for c in completions:
        parsed = parse_completion(c.text, fmt, k_prompt)
        parsed_all.append(parsed)
        conf = parsed.confidences
        answers += [{"answer": a, "confidence": conf[i] if conf else None} for i, a in enumerate(parsed.answers)]
    order = order_by_confidence([a["confidence"] for a in answers] if fmt.has_confidence else None, len(answers))
    first = parsed_all[0]
    return {
        "question": question,
        "answers": [answers[i] for i in order],
        "format_ok": all(p.format_ok for p in parsed_all),
        "reason": first.reason if len(parsed_all) == 1 else [p.reason for p in parsed_all],
        "completion": completions[0].text if len(completions) == 1 else [c.text for c in completions],
        "n_tokens": sum(c.n_tokens for c in completions),
    }


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `multianswer generate`."""
    parser.add_argument("questions", nargs="*", help="questions to answer (none: one question per line on stdin)")
    parser.add_argument("--model", required=True,
                        help="hub id, local directory, 'smollm2' or 'tiny'; with --backend openai the served model's name")
    parser.add_argument("--k", type=int, default=3, help="candidates per answer set (single formats: samples)")
    parser.add_argument("--format", default="multi-conf", choices=FORMAT_NAMES, help="answer format the model was trained for")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default: 0 for multi, 0.7 for single)")
    parser.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=512,
                        help="generated tokens per completion at most")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--instruction", default="", help="extra line for the system prompt (a task's instruction)")
    parser.add_argument("--prompt-style", dest="prompt_style", default="paper", choices=PROMPT_STYLES,
                        help="system prompt: the paper's, or 'short' (<= 60 tokens); the style the model was trained with")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="generation backend (openai: an OpenAI-compatible server at --base-url)")
    parser.add_argument("--show-completion", dest="show_completion", action="store_true", help="include the raw completion text")
    add_server_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run `multianswer generate`."""
    questions = list(args.questions) or [line.strip() for line in sys.stdin if line.strip()]
    if not questions:
        raise UserError("give at least one question (as arguments or on stdin)")
    results = generate_answers(
        args.model, questions, args.k, args.format, temperature=args.temperature,
        max_new_tokens=args.max_new_tokens, seed=args.seed, instruction=args.instruction,
        prompt_style=args.prompt_style, backend=args.backend,
        **(server_options(args) if args.backend == "openai" else {}),
    )
    if not args.show_completion:
        for r in results:
            r.pop("completion")
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0
