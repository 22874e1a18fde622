"""Answer matching: normalisation, gold sets with aliases, numeric equivalence, verifiers, and golds named in free text.

Two answers match when either of their normal forms agree: punctuation as a space
("Guillain-Barré" = "Guillain Barré") or punctuation deleted ("Hodgkin's" = "Hodgkins",
"U.S.A." = "USA", as the reference normalises). An answer that is empty in a normal form
("...") matches nothing.

A verifier labels each candidate of one completion correct or not against that example's
gold. Verifiers take all candidates at once so that an expensive one (the code sandbox)
can check them in parallel. Register new ones with `register_verifier`.
"""

from __future__ import annotations

import importlib
import re
import string
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, runtime_checkable

from multianswer.core.errors import UnknownNameError

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT_CHARS = string.punctuation + "‘’“”–—…«»¿¡"
_PUNCT_AS_SPACE = str.maketrans({c: " " for c in _PUNCT_CHARS})
_PUNCT_DELETED = str.maketrans({c: None for c in _PUNCT_CHARS})
_SPACES = re.compile(r"\s+")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}


def _normalize(text: str, punctuation: dict) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().translate(punctuation)
    # an answer that is only an article ("A", as in option A) keeps it
    stripped = _SPACES.sub(" ", _ARTICLES.sub(" ", text)).strip()
    return stripped or _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=65536)
def normalize_answer(text: str) -> str:
    """NFKC, lower case, punctuation turned into spaces, articles removed, white space collapsed."""
    return _normalize(text, _PUNCT_AS_SPACE)


@lru_cache(maxsize=65536)
def answer_keys(text: str) -> frozenset[str]:
    """The non-empty normal forms of `text` (punctuation as space, punctuation deleted); two answers
    match when these sets meet."""
    return frozenset(k for k in (normalize_answer(text), _normalize(text, _PUNCT_DELETED)) if k)


def same_answer(a: str, b: str) -> bool:
    """True when `a` and `b` agree in either normal form (never when one is empty)."""
    return not answer_keys(a).isdisjoint(answer_keys(b))


def parse_number(text: str, words: bool = False) -> float | None:
    """'3', '3.0', '1,000', '-2.5', '50%' -> a float; number words ('three') when `words`."""
    t = unicodedata.normalize("NFKC", text).strip().casefold().replace(",", "").replace("$", "")
    t = t[:-1].strip() if t.endswith("%") else t
    if words and t in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[t])
    if not t or len(t) > 64:
        return None
    try:
        value = float(t)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


# words that never name an answer in a sentence, although some places have alternate names spelled
# so (Huy 'I', Of, Caen 'Can'); a reply's 'I think' must not count as naming one
_FUNCTION_WORDS = frozenset(
    "a an the i me my we you he she it they is are was be been am do does did can could will would should may "
    "might must of in on at to for from by with as or and but not no yes so if one this that there here its his "
    "her their our your what which who".split()
)


@dataclass(frozen=True)
class GoldSet:
    """The accepted answers of one example; each answer may have several aliases."""

    answers: tuple[tuple[str, ...], ...]  # one tuple of aliases per distinct gold answer

    @classmethod
    def from_raw(cls, raw: object) -> GoldSet:
        """Build from a string, a list of strings, or a list whose items are alias lists."""
        if isinstance(raw, GoldSet):
            return raw
        if raw is None:
            return cls(())
        if isinstance(raw, str):
            raw = [raw]
        groups = []
        for item in raw:
            aliases = (item,) if isinstance(item, str) else tuple(str(a) for a in item)
            if aliases:
                groups.append(aliases)
        return cls(tuple(groups))

    def index_of(self, candidate: str, numeric: bool = True, number_words: bool = False) -> int | None:
        """Index of the gold answer that `candidate` matches, or None."""
        keys = answer_keys(candidate)
        num = parse_number(candidate, number_words) if numeric else None
        for i, aliases in enumerate(self.answers):
            for alias in aliases:
                if not keys.isdisjoint(answer_keys(alias)):
                    return i
                if num is not None:
                    gold_num = parse_number(alias, number_words)
                    if gold_num is not None and abs(gold_num - num) <= 1e-9 * max(1.0, abs(num)):
                        return i
        return None


def _phrases(text: str) -> list[str]:
    """The normal forms of `text`, padded with spaces so that a phrase is found only as whole words."""
    return [f" {key} " for key in answer_keys(text)]


def mentioned_gold(reply: str, gold: object, exclude: str = "") -> int | None:
    """Index of the gold answer a free-text reply names first (an alias as whole words of its normal form), or None.

    For replies in sentences ('The capital of Kenya is Nairobi.'). Aliases that are function words
    ('I', 'Of') do not count, nor aliases that `exclude` (the question) holds: echoing 'a city in
    Mexico' does not name Mexico City, whose alternate names include 'Mexico'. Ties at one place go
    to the longer alias ('North Ogden' over 'North').
    """
    replies, asked = _phrases(reply), _phrases(exclude) if exclude else []
    best: tuple[int, int, int] | None = None  # (where, -length, gold index)
    for i, aliases in enumerate(GoldSet.from_raw(gold).answers):
        for alias in aliases:
            for phrase in _phrases(alias):
                if phrase.strip() in _FUNCTION_WORDS or any(phrase in q for q in asked):
                    continue
                for text in replies:
                    where = text.find(phrase)
                    if where >= 0 and (best is None or (where, -len(phrase)) < best[:2]):
                        best = (where, -len(phrase), i)
    return None if best is None else best[2]


@runtime_checkable
class Verifier(Protocol):
    """Labels each candidate correct (True) or not against one example's gold."""

    def __call__(self, candidates: Sequence[str], gold: object) -> list[bool]: ...


class MatchVerifier:
    """Normalised exact match against a gold set with aliases, plus numeric equivalence."""

    def __init__(self, numeric: bool = True, number_words: bool = False):
        self.numeric, self.number_words = numeric, number_words

    def __call__(self, candidates: Sequence[str], gold: object) -> list[bool]:
        gold_set = GoldSet.from_raw(gold)
        return [gold_set.index_of(c, self.numeric, self.number_words) is not None for c in candidates]

    def matched_gold(self, candidates: Sequence[str], gold: object) -> list[int | None]:
        """Which gold answer (index) each candidate hits; for gold-set recall."""
        gold_set = GoldSet.from_raw(gold)
        return [gold_set.index_of(c, self.numeric, self.number_words) for c in candidates]


# Built-ins are named by import path so that importing this module stays cheap and
# the bottom layer never imports the sandbox.
_VERIFIERS: dict[str, Verifier | str] = {
    "match": MatchVerifier(),
    "exact": MatchVerifier(numeric=False),
    "numeric-words": MatchVerifier(number_words=True),
    "code": "multianswer.sandbox:CodeVerifier",
}


def register_verifier(name: str, verifier: Verifier | Callable[[Sequence[str], object], list[bool]]) -> None:
    """Make `verifier` available under `name` (the value of a data set's `verifier` column)."""
    _VERIFIERS[name] = verifier


def get_verifier(name: str | None) -> Verifier:
    """The verifier registered under `name` ('match' when None or empty)."""
    name = name or "match"
    try:
        found = _VERIFIERS[name]
    except KeyError:
        raise UnknownNameError(f"unknown verifier {name!r}; registered: {', '.join(sorted(_VERIFIERS))}") from None
    if isinstance(found, str):
        module, attr = found.split(":")
        found = _VERIFIERS[name] = getattr(importlib.import_module(module), attr)()
    return found


def distinct_answers(candidates: Iterable[str]) -> list[str]:
    """The candidates that match no earlier candidate (first spelling kept)."""
    seen: set[str] = set()
    kept = []
    for candidate in candidates:
        keys = answer_keys(candidate)
        if keys.isdisjoint(seen) or not keys:  # an empty answer is its own (wrong) answer
            kept.append(candidate)
        seen |= keys
    return kept


def distinct_count(candidates: Iterable[str]) -> int:
    """How many candidates are different answers (no two of them match)."""
    return len(distinct_answers(candidates))


def has_duplicates(candidates: Sequence[str]) -> bool:
    """True when two candidates are the same answer."""
    return distinct_count(candidates) < len(candidates)
