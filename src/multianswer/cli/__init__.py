"""The `multianswer` command line: one subcommand per module, imported only when it runs.

Each command module defines `configure(parser)` (its options, each with help text) and
`run(args) -> int`. `multianswer --help` imports none of them, so it answers at once.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys

from multianswer.core.errors import UserError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "score": ("multianswer.cli.score", "parse completions, check them against gold answers, print their rewards"),
    "tasks": ("multianswer.cli.tasks", "list the registered tasks, their sizes and data sources"),
    "train": ("multianswer.training.trainer", "train a model with rlvr, rlcr, multi-rlvr or multi-rlcr (GRPO on TRL)"),
    "eval": ("multianswer.evaluation.runner", "evaluate a model on a task: generate, verify, score; write results, summary and report"),
    "compare": ("multianswer.evaluation.compare", "compare evaluation runs side by side (multi-answer vs k samples, with token cost)"),
    "demo": ("multianswer.demo.pipeline", "the paper's effect end to end on a laptop CPU: base model, RL, evaluation, report"),
    "generate": ("multianswer.generation.answers", "answer questions with a model: ranked answer sets with confidences as JSON"),
}


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the `selected` command's module is imported to add its options."""
    from multianswer import __version__

    parser = argparse.ArgumentParser(
        prog="multianswer",
        description="Train and evaluate language models that give several calibrated answers in one generation.",
    )
    parser.add_argument("--version", action="version", version=f"multianswer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            importlib.import_module(module).configure(p)
    return parser


def unknown_option(parser: argparse.ArgumentParser, argv: list[str], command: str | None) -> str | None:
    """The first --option in `argv` that neither the program nor `command` knows, with the closest known one.

    argparse checks required options first, so `--modle` would only get "--model is required".
    """
    parsers = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            parsers.append(action.choices[command])
    known = sorted({s for p in parsers for a in p._actions for s in a.option_strings if s.startswith("--")})
    for token in argv:
        if token == "--":
            break
        name = token.partition("=")[0]
        if not name.startswith("--") or any(k.startswith(name) for k in known):  # argparse takes unique prefixes
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        return f"unknown option {name}" + (f" (did you mean {close[0]}?)" if close else "")
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `multianswer` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(selected if selected in COMMANDS else None)
    mistake = unknown_option(parser, argv, selected)
    if mistake:
        print(f"{parser.prog} {selected if selected in COMMANDS else ''}".rstrip() + f": error: {mistake}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except UserError as err:
        print(f"multianswer {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"multianswer {args.command}: interrupted", file=sys.stderr)
        return 130

