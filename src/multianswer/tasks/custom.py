"""Bring-your-own data: `jsonl:PATH` for a local file and `hf:NAME` for a hub data set.

    jsonl:data/qa.jsonl                               fields `question` and `answers`
    jsonl:data/qa.jsonl?question=q&answers=gold       other field names
    hf:user/dataset?config=x&question=q&answers=a&test=validation

`answers` may be one string, a list of accepted answers, or a list of alias lists (a dict
with `aliases`/`text`, as TriviaQA and SQuAD store answers, also works). Optional fields:
`id`, `verifier` (default 'match'; 'code' makes `answers` the unit-test code) and `metadata`.
A row with a `split` field belongs to that split only; rows without one serve every split.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from multianswer.core.errors import UserError
from multianswer.tasks.base import Example, Task, register_task
from multianswer.tasks.sources import DOCS_HINT, as_list, load_hub, numbered_records

FIELD_OPTIONS = ("question", "answers", "id", "verifier")
HF_OPTIONS = FIELD_OPTIONS + ("config", "train", "test")


def parse_spec(spec: str, allowed: tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """'PATH?k=v&k2=v2' -> (PATH, {k: v}); only `allowed` keys."""
    target, sep, query = spec.rpartition("?")
    if not sep or "=" not in query:
        return spec, {}
    options = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r} in {spec!r}; options: {', '.join(allowed)}")
    return target, options


def _gold(value: Any) -> list:
    """A gold field as a list of answers (each a string or an alias list)."""
    if isinstance(value, dict):  # TriviaQA {"aliases": [...], "value": ...}, SQuAD {"text": [...]}
        aliases = as_list(value.get("aliases")) or as_list(value.get("text"))
        main = value.get("value") or value.get("normalized_value")
        return [list(dict.fromkeys(([main] if main else []) + [str(a) for a in aliases]))] if aliases or main else []
    out = []
    for item in [value] if isinstance(value, str) else as_list(value):
        if isinstance(item, str) and item.strip():
            out.append(item)
        elif isinstance(item, (list, tuple)) and item and all(isinstance(a, str) for a in item):
            out.append(list(item))
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append(str(item))
        else:
            return []
    return out


def row_example(row: dict, where: str, fields: dict[str, str], prefix: str) -> Example:
    """One example from a user row, with errors that name where the row is."""
    q_field, a_field = fields.get("question", "question"), fields.get("answers", "answers")
    question = row.get(q_field)
    if not isinstance(question, str) or not question.strip():
        raise UserError(f"{where}: field {q_field!r} is missing or not a non-empty string (fields: {', '.join(row)})")
    if a_field not in row:
        raise UserError(f"{where}: field {a_field!r} is missing (fields: {', '.join(row)})")
    gold = _gold(row[a_field])
    if not gold:
        raise UserError(f"{where}: field {a_field!r} must be a string or a non-empty list of strings / alias lists")
    verifier = str(row.get(fields.get("verifier", "verifier")) or "match")
    metadata = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    ident = row.get(fields.get("id", "id"))
    return Example(str(ident) if ident not in (None, "") else f"{prefix}-{where.split()[-1]}", question, gold, verifier, metadata)


def jsonl_task(spec: str = "") -> Task:
    """A task from a local JSONL (or JSON, CSV, Parquet) file: `jsonl:PATH[?question=..&answers=..]`."""
    path_text, fields = parse_spec(spec, FIELD_OPTIONS)
    if not path_text:
        raise UserError(f"`jsonl:` needs a file: jsonl:PATH ({DOCS_HINT})")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise UserError(f"jsonl task: file not found: {path}")
    rows: list[tuple[str | None, Example]] = []
    for where, row in numbered_records(path):
        split = row.get("split")
        rows.append((str(split) if split else None, row_example(row, f"{path}, {where}", fields, path.stem)))
    if not rows:
        raise UserError(f"{path}: no rows")
    named = {s for s, _ in rows if s} | ({"train", "test"} if any(s is None for s, _ in rows) else set())
    order = {"train": 0, "validation": 1, "test": 2}
    splits = tuple(sorted(named, key=lambda s: (order.get(s, 3), s)))

    def load(split: str) -> list[Example]:
        return [ex for s, ex in rows if s in (None, split)]

    verifiers = {ex.verifier for _, ex in rows}
    return Task(f"jsonl:{spec}", f"your data in {path.name}", f"local file {path}", load, splits,
                verifier=verifiers.pop() if len(verifiers) == 1 else "match",
                sizes=lambda: {s: len(load(s)) for s in splits})


def hf_task(spec: str = "") -> Task:
    """A task from a hub data set: `hf:NAME[?config=..&question=..&answers=..&train=..&test=..]`."""
    name, options = parse_spec(spec, HF_OPTIONS)
    if not name:
        raise UserError(f"`hf:` needs a data set name: hf:NAME ({DOCS_HINT})")
    hub_splits = {"train": options.get("train", "train"), "test": options.get("test", "test")}

    @lru_cache(maxsize=None)
    def load(split: str) -> list[Example]:
        rows: Iterable[dict] = load_hub(f"hf:{name}", name, options.get("config"), hub_splits[split], "jsonl:/path/to/file.jsonl")
        prefix = name.replace("/", "-")
        return [row_example(row, f"{name} [{hub_splits[split]}] row {i}", options, prefix) for i, row in enumerate(rows, 1)]

    return Task(f"hf:{spec}", f"hub data set {name}", f"hub {name}", load, ("train", "test"))


register_task("jsonl:", jsonl_task)
register_task("hf:", hf_task)
