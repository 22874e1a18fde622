"""Prompt tokens per prompt style and format: the system prompt alone, and the whole templated prompt of a question.

    python bench/prompt_tokens.py [--model smollm2] [--k 3] [--task country-cities]

The system prompt is counted without the task's instruction line (which both styles append
unchanged); the whole prompt is the model's chat template over the system and user turns of the
task's first test question, with the task's instruction and the generation prompt, as training
and evaluation build it. Only the tokenizer is loaded.
"""

from __future__ import annotations

import argparse

from multianswer.core.formats import FORMAT_NAMES, PROMPT_STYLES, FormatRules, system_prompt, with_rules
from multianswer.models.context import prompt_tokens
from multianswer.models.loading import load_tokenizer
from multianswer.tasks import get_task, prompt_messages


def token_rows(tokenizer, k: int, task_name: str) -> list[tuple[str, str, int, int]]:
    """(style, format, system-prompt tokens, whole-prompt tokens) for every style and format."""
    task = get_task(task_name)
    example = task.examples("test", 1)[0]
    rows = []
    for style in PROMPT_STYLES:
        for name in FORMAT_NAMES:
            fmt = with_rules(name, FormatRules(prompt_style=style))
            kk = fmt.answers_per_completion(k)
            system = len(tokenizer(system_prompt(fmt, kk), add_special_tokens=False)["input_ids"])
            rows.append((style, name, system, prompt_tokens(tokenizer, prompt_messages(example, task, fmt, kk))))
    return rows


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="whose tokenizer counts ('smollm2', 'tiny', a hub id or folder)")
    parser.add_argument("--k", type=int, default=3, help="candidates per completion in the multi formats")
    parser.add_argument("--task", default="country-cities", help="the task whose first test question fills the user turn")
    args = parser.parse_args(argv)
    tokenizer = load_tokenizer(args.model)
    print(f"{args.model} tokens, K = {args.k}, whole prompt: {args.task}'s first test question\n")
    print("| style | format | system prompt | whole prompt |\n|---|---|---:|---:|")
    for style, name, system, whole in token_rows(tokenizer, args.k, args.task):
        print(f"| {style} | {name} | {system} | {whole} |")


if __name__ == "__main__":
    main()
