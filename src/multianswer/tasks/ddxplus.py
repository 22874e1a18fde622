"""DDXPlus differential diagnosis: the processed 25k hub version and the raw release.

`ddxplus` reads `mehuldamani/medDataset_25k` (the authors' processed version, what the
reference trains on) or a local file with the same columns, as the reference reads it: the
problem from `question`, else `problem`; the gold from `answers`, else `answer` (a string, or a
list of accepted answers); plus an optional differential into metadata.

`ddxplus-raw` reads the raw release (figshare; no official hub copy): patients CSVs (AGE, SEX,
PATHOLOGY, EVIDENCES, INITIAL_EVIDENCE, DIFFERENTIAL_DIAGNOSIS), decoded through
release_evidences.json / release_conditions.json into a plain case description. The gold is
the true pathology under its English name; the differential is kept in metadata.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
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
)
from multianswer.tasks.paper import AUTHORS_SPLITS, authors_example, authors_task

# ---------------------------------------------------------------------------- processed (hub) version

DDX_HUB = HubSource("mehuldamani/medDataset_25k", None, AUTHORS_SPLITS)
DIFFERENTIAL_COLUMNS = ("differential", "differential_diagnosis", "ddx")
DIAGNOSIS_INSTRUCTION = "Each answer is the name of one diagnosis (a pathology), with no other words."


def ddxplus_example(name: str, row: dict, number: int, split: str) -> Example:
    """One processed case: the authors' columns, plus the differential when the row has one."""
    differential = next((row[c] for c in DIFFERENTIAL_COLUMNS if row.get(c) not in (None, "")), None)
    meta = {"differential": as_list(differential)} if differential is not None else {}
    return authors_example(name, row, number, split, meta)


def ddxplus(location: str = "") -> Task:
    """DDXPlus, processed 25k version (hub or local file with the same columns)."""
    return authors_task("ddxplus", DDX_HUB, "DDXPlus differential diagnosis, processed 25k cases of the reference",
                        DIAGNOSIS_INSTRUCTION, location, ddxplus_example)


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
