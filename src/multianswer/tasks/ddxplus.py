"""DDXPlus differential diagnosis: the processed 25k hub version and the raw release.

`ddxplus` reads `mehuldamani/medDataset_25k` (the reference's processed version) or a local
file with the same columns. Its schema is not documented; we read the problem text from the
first of PROBLEM_COLUMNS present and the gold from the first of GOLD_COLUMNS (a string, or a
list of accepted answers as the reference's grader treats it), plus an optional differential.

`ddxplus-raw` reads the raw release (figshare; no official hub copy): patients CSVs (AGE, SEX,
PATHOLOGY, EVIDENCES, INITIAL_EVIDENCE, DIFFERENTIAL_DIAGNOSIS), decoded through
release_evidences.json / release_conditions.json into a plain case description. The gold is
the true pathology under its English name; the differential is kept in metadata.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from multianswer.core.errors import UserError
from multianswer.tasks.base import Example, Task, register_task
from multianswer.tasks.lazy import StreamedExamples
from multianswer.tasks.sources import (
    DOCS_HINT,
    HubSource,
    as_list,
    convert_rows,
    local_file,
    read_records,
    resolve_local,
    split_rows,
)

# ---------------------------------------------------------------------------- processed (hub) version

DDX_HUB = HubSource("mehuldamani/medDataset_25k", None, {"train": "train", "test": "test"})
DDX_UPSTREAM = {"train": "train", "test": "test"}
PROBLEM_COLUMNS = ("problem", "question", "prompt", "case", "text")
GOLD_COLUMNS = ("answer", "answers", "pathology", "diagnosis", "label")
DIFFERENTIAL_COLUMNS = ("differential", "differential_diagnosis", "ddx")
DIAGNOSIS_INSTRUCTION = "Each answer is the name of one diagnosis (a pathology), with no other words."


def _first(row: dict, columns: tuple[str, ...], what: str, number: int):
    for column in columns:
        if row.get(column) not in (None, ""):
            return row[column]
    raise UserError(f"ddxplus row {number}: no {what} column (looked for {', '.join(columns)}; found {', '.join(row)})")


def ddxplus_example(row: dict, number: int, split: str) -> Example:
    """One processed case: the problem text as given, the pathology (or accepted list) as gold."""
    gold = _first(row, GOLD_COLUMNS, "gold answer", number)
    gold = [str(g) for g in as_list(gold)] if not isinstance(gold, str) or gold.lstrip().startswith("[") else [gold]
    differential = next((row[c] for c in DIFFERENTIAL_COLUMNS if row.get(c) not in (None, "")), None)
    meta = {"differential": as_list(differential)} if differential is not None else {}
    ident = row.get("id", f"{split}-{number}")
    return Example(f"ddxplus-{ident}", str(_first(row, PROBLEM_COLUMNS, "problem", number)), gold, "match", meta)


def ddxplus(location: str = "") -> Task:
    """DDXPlus, processed 25k version (hub or local file with the same columns)."""

    @lru_cache(maxsize=None)
    def load(split: str) -> list[Example]:
        numbers = itertools.count()
        return list(split_rows("ddxplus", location, DDX_UPSTREAM, DDX_HUB, split,
                               lambda row: ddxplus_example(row, next(numbers), split)))

    return Task("ddxplus", "DDXPlus differential diagnosis, processed 25k cases of the reference",
                DDX_HUB.describe(), load, ("train", "test"), DIAGNOSIS_INSTRUCTION)


# ---------------------------------------------------------------------------- raw release

RAW_UPSTREAM = {"train": "train", "validation": "validation", "test": "test"}
RAW_EXTRAS = ("evidences", "conditions")


class Release:
    """The evidences and conditions of a DDXPlus release, to turn codes into words."""

    def __init__(self, evidences: dict, conditions: dict):
        self.evidences = evidences
        self.by_name: dict[str, dict] = {}
        for key, record in conditions.items():  # PATHOLOGY may use the key, the name or the French name
            for name in (key, record.get("condition_name"), record.get("cond-name-fr"), record.get("cond-name-eng")):
                if name:
                    self.by_name.setdefault(name, record)

    def english(self, pathology: str) -> str:
        """The English name of a pathology as the patients file writes it."""
        record = self.by_name.get(pathology)
        return (record.get("cond-name-eng") or record.get("condition_name") or pathology) if record else pathology

    def names(self) -> list[str]:
        """English names of every pathology of the release."""
        return sorted({self.english(n) for n in self.by_name})

    def _value(self, evidence: dict, value: str) -> str | None:
        meaning = (evidence.get("value_meaning") or {}).get(value)
        text = meaning.get("en", value) if isinstance(meaning, dict) else value
        return None if text == "NA" else text

    def describe(self, row: dict) -> str:
        """A plain-English case description of one patient row."""
        answers: dict[str, list[str]] = {}  # evidence name -> its values, in first-mention order
        for item in as_list(row["EVIDENCES"]):
            name, _, value = str(item).partition("_@_")
            values = answers.setdefault(name, [])
            if value:
                values.append(value)
        initial_name = str(row.get("INITIAL_EVIDENCE", ""))
        sections: dict[bool, list[str]] = {False: [], True: []}
        for name, values in answers.items():
            if name == initial_name and not values:  # already said as the reason for consulting
                continue
            evidence = self.evidences.get(name)
            if evidence is None:
                raise UserError(f"ddxplus-raw: evidence {name!r} is not in the evidences file")
            words = [w for w in (self._value(evidence, v) for v in values) if w] if values else ["Yes"]
            if words:
                sections[bool(evidence.get("is_antecedent"))].append(f"- {evidence['question_en']} {', '.join(words)}")
        sex = {"M": "male", "F": "female"}.get(str(row["SEX"]).strip(), str(row["SEX"]))
        initial = self.evidences.get(initial_name, {}).get("question_en")
        lines = [f"Patient: {row['AGE']}-year-old {sex}."]
        if initial:
            lines.append(f"Reason for consulting: {initial} Yes")
        lines += ["Symptoms:", *(sections[False] or ["- none reported"])]
        lines += ["Medical history:", *(sections[True] or ["- none reported"])]
        return "\n".join(lines) + "\n\nWhat is the most likely diagnosis?"

    def example(self, row: dict, ident: str) -> Example:
        """One patient as an example: case text, English pathology name, differential in metadata."""
        pathology = str(row["PATHOLOGY"])
        gold = list(dict.fromkeys([self.english(pathology), pathology]))
        differential = [[self.english(str(name)), float(p)] for name, p in as_list(row.get("DIFFERENTIAL_DIAGNOSIS"))]
        meta = {"differential": differential, "age": int(row["AGE"]), "sex": str(row["SEX"])}
        return Example(ident, self.describe(row), [gold], "match", meta)


def _json_next_to(places: list[Path], word: str) -> Path:
    for folder in places:
        for candidate in sorted(folder.glob(f"*{word}*.json")):
            return candidate
    raise UserError(f"ddxplus-raw: no release_{word}.json found in {', '.join(map(str, places))}; pass {word}=PATH")


def raw_locations(location: str) -> tuple[dict[str, Path] | None, dict[str, Path]]:
    """(split -> patients file, 'evidences'/'conditions' -> JSON file) from a task location."""
    extras: dict[str, Path] = {}
    if "=" in location:
        parts = [p for p in location.split(",") if p.strip()]
        extras = {k.strip(): Path(v.strip()).expanduser() for k, _, v in (p.partition("=") for p in parts) if k.strip() in RAW_EXTRAS}
        location = ",".join(p for p in parts if p.partition("=")[0].strip() not in RAW_EXTRAS)
    files = resolve_local("ddxplus-raw", location or None, RAW_UPSTREAM)
    if files is None:
        return None, extras
    places = list(dict.fromkeys(p.parent for p in files.values()))
    for word in RAW_EXTRAS:
        if word not in extras:
            extras[word] = _json_next_to(places, word)
    return files, extras


def load_release(extras: dict[str, Path]) -> Release:
    """Read the evidences and conditions JSON files."""
    loaded = {}
    for word in RAW_EXTRAS:
        try:
            loaded[word] = json.loads(extras[word].read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"ddxplus-raw: cannot read {extras[word]}: {err}") from None
    return Release(loaded["evidences"], loaded["conditions"])


def ddxplus_raw(location: str = "") -> Task:
    """DDXPlus raw release from local files, decoded into case descriptions."""
    files, extras = raw_locations(location)
    release = load_release(extras) if files is not None else None
    instruction = DIAGNOSIS_INSTRUCTION
    if release is not None:
        instruction = f"Each answer is one diagnosis from this list, written as listed: {'; '.join(release.names())}."

    def load(split: str) -> StreamedExamples:
        if files is None or release is None:
            raise UserError(
                "ddxplus-raw reads local files only (the release is on figshare, not the hub): "
                f"use `ddxplus-raw:/path/to/release_folder` ({DOCS_HINT})"
            )
        path = local_file("ddxplus-raw", files, split)

        def produce() -> Iterator[Example]:
            numbers = itertools.count()
            convert = lambda row: release.example(row, f"ddxplus-raw-{split}-{next(numbers)}")  # noqa: E731
            return convert_rows("ddxplus-raw", str(path), read_records(path), convert)

        return StreamedExamples(produce)

    return Task("ddxplus-raw", "DDXPlus raw release: patients decoded into case descriptions; gold = the pathology",
                "local files (DDXPlus release, figshare)", load, tuple(RAW_UPSTREAM), instruction)


register_task("ddxplus", ddxplus)
register_task("ddxplus:", ddxplus)
register_task("ddxplus-raw", ddxplus_raw)
register_task("ddxplus-raw:", ddxplus_raw)
