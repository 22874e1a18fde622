"""The task interface: examples with gold answers, a verifier name, and a prompt instruction.

A task is anything with `name`, `examples(split)` and the attributes below. Tasks are
registered by name; `get_task` also understands `jsonl:PATH` and `hf:NAME` specs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from multianswer.core.errors import UserError
from multianswer.core.formats import AnswerFormat, as_format, chat_messages


@dataclass(frozen=True)
class Example:
    """One problem: its text, its gold (accepted answers, or unit-test code for 'code') and metadata."""

    id: str
    problem: str
    answers: list  # list of str, or of alias lists; for verifier 'code': [test_code]
    verifier: str = "match"
    metadata: dict[str, Any] = field(default_factory=dict)
    # several labels drawn for this one problem (annotators, or draws from a known distribution), each in
    # the shape of `answers`; with `reward_over_draws` a training reward averages over them instead of scoring `answers`
    label_draws: list = field(default_factory=list)


def _alias_lists(answers: list) -> list[list]:
    return [list(a) if isinstance(a, (list, tuple)) else [a] for a in answers]


@dataclass
class Task:
    """A named source of examples per split, with the verifier and instruction its prompts need."""

    name: str
    description: str
    source: str  # where the data comes from, for `multianswer tasks`
    load: Callable[[str], Sequence[Example]]  # split -> examples
    splits: tuple[str, ...] = ("train", "test")
    instruction: str = ""  # task-specific line the system prompt adds
    verifier: str = "match"
    # cheap split sizes for `multianswer tasks` (None: unknown without loading, e.g. hub data)
    sizes: Callable[[], dict[str, int]] | None = None

    def examples(self, split: str = "test", limit: int | None = None) -> list[Example]:
        """The examples of `split` (the first `limit` of them)."""
        if split not in self.splits:
            raise UserError(f"task {self.name!r} has no split {split!r}; it has {', '.join(self.splits)}")
        items = self.load(split)
        # slice before listing so that a lazy sequence (procedural tasks) builds only what is asked
        return list(items[:limit] if limit is not None else items)


_REGISTRY: dict[str, Callable[[], Task]] = {}


def register_task(name: str, factory: Callable[[], Task]) -> None:
    """Register a task factory under `name` (factories run only when the task is used).

    A name ending in ':' ('jsonl:', 'ddxplus:') registers a family: `get_task('jsonl:PATH')`
    calls its factory with 'PATH'.
    """
    _REGISTRY[name] = factory


def task_names() -> list[str]:
    """Names of the registered tasks (families such as 'jsonl:' are listed by `task_families`)."""
    return sorted(n for n in _REGISTRY if not n.endswith(":"))


def task_families() -> list[str]:
    """Registered spec prefixes such as 'jsonl:' and 'hf:' (each takes text after the colon)."""
    return sorted(n for n in _REGISTRY if n.endswith(":"))


def get_task(spec: str) -> Task:
    """A registered task by name, or 'jsonl:PATH' / 'hf:NAME' for bring-your-own data."""
    if spec in _REGISTRY:
        return _REGISTRY[spec]()
    prefix, _, rest = spec.partition(":")
    if rest and f"{prefix}:" in _REGISTRY:
        return _REGISTRY[f"{prefix}:"](rest)  # type: ignore[call-arg]
    import difflib

    close = difflib.get_close_matches(spec, task_names(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"unknown task {spec!r}{hint}; run `multianswer tasks` to list them")


def prompt_messages(example: Example, task: Task, fmt: AnswerFormat | str, k: int) -> list[dict]:
    """Chat messages (system + user) asking for `example` in format `fmt` with `k` candidates."""
    return chat_messages(example.problem, fmt, k, task.instruction)


def to_grpo_dataset(task: Task, split: str, fmt: AnswerFormat | str, k: int, limit: int | None = None,
                    label_draws: bool = False):
    """A `datasets.Dataset` as TRL's GRPOTrainer wants it: conversational `prompt` + the reward columns.

    `label_draws`: also the column `label_draws`, when the examples carry several drawn labels.
    """
    from datasets import Dataset

    fmt = as_format(fmt)
    examples = task.examples(split, limit)
    rows = [
        {"prompt": prompt_messages(ex, task, fmt, k), "answers": _alias_lists(ex.answers), "verifier": ex.verifier, "id": ex.id}
        for ex in examples
    ]
    if not rows:
        raise UserError(f"task {task.name!r} split {split!r} has no examples")
    if label_draws and any(ex.label_draws for ex in examples):  # only then: other data sets keep their columns
        for row, ex in zip(rows, examples):
            row["label_draws"] = [_alias_lists(d if isinstance(d, (list, tuple)) else [d]) for d in ex.label_draws]
    return Dataset.from_list(rows)
