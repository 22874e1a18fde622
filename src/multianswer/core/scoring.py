"""Scoring one completion: parse it in its format, verify its candidates against the gold, cache both.

The one place where model text meets the gold. Training rewards (`core.rewards`) and evaluation
rows (`evaluation.runner`) both score through here, so a completion gets the same verdict in
both. A verifier that raises on a completion does not make the run crash on strange model text,
and it is not silently scored as wrong either: the `Scored` carries the error, batches count
them (`VerifierTally`), and a verifier that fails on every call stops the run with one line
(`VerifierFailure`). A `UserError` from a verifier (bad gold data) is a user mistake: it is
raised at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from multianswer.core.errors import UserError
from multianswer.core.formats import AnswerFormat, ParsedCompletion, parse_completion
from multianswer.core.matching import get_verifier, has_duplicates
from multianswer.core.metrics import distinct_correct

# a verifier that raises on this many calls in a row (and on no call in between) is broken, not unlucky
SYSTEMATIC_MIN_CALLS = 4


class VerifierFailure(UserError):
    """A verifier raised on every completion it was given: the run stops instead of scoring all as wrong."""


@dataclass(frozen=True)
class Scored:
    """A parsed completion with each candidate's correctness (and the verifier's error, if it raised)."""

    parsed: ParsedCompletion
    correct: tuple[bool, ...]  # one per parsed answer; empty when the format fails
    verifier_error: str | None = None  # 'TypeError: ...' when the verifier raised (correct is then all False)

    @property
    def verified(self) -> bool:
        """Whether the verifier was called (only completions in the format are verified)."""
        return self.parsed.format_ok

    @property
    def distinct(self) -> bool:
        """No two candidates are the same after normalisation."""
        return not has_duplicates(self.parsed.answers)

    def n_distinct_correct(self) -> int:
        """Distinct (after normalisation) correct candidates."""
        return distinct_correct(self.parsed.answers, self.correct)

    def fields(self) -> dict:
        """The parsed answer set as plain JSON fields: answers, confidences, format_ok, reason, correct."""
        p = self.parsed
        return {
            "format_ok": p.format_ok,
            "reason": p.reason,
            "answers": list(p.answers),
            "confidences": list(p.confidences) if p.confidences is not None else None,
            "correct": list(self.correct),
        }


def completion_text(completion: object) -> str:
    """The text of a completion given as a string or as chat messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    if isinstance(completion, (list, tuple)):
        return "".join(completion_text(m) for m in completion)
    return "" if completion is None else str(completion)


def _freeze(gold: object) -> object:
    """A hashable copy of a gold value (lists become tuples), for the cache key."""
    if isinstance(gold, (list, tuple)):
        return tuple(_freeze(g) for g in gold)
    return gold


@lru_cache(maxsize=8192)
def _score_cached(text: str, fmt: AnswerFormat, k: int, gold: object, verifier: str | None,
                  question: str | None) -> Scored:
    parsed = parse_completion(text, fmt, k)
    if not parsed.format_ok:
        return Scored(parsed, ())
    verify = get_verifier(verifier)  # an unknown name is a configuration error: let it raise
    context = {"question": question} if question is not None and getattr(verify, "wants_question", False) else {}
    try:
        correct = tuple(bool(y) for y in verify(list(parsed.answers), gold, **context))
    except UserError:
        raise
    except Exception as err:  # strange model text must not take a run down; the error is kept and counted
        first_line = (str(err).strip().splitlines() or [""])[0][:200]
        return Scored(parsed, (False,) * len(parsed.answers), f"{type(err).__name__}: {first_line}".rstrip(": "))
    return Scored(parsed, correct)


def score_completion(completion: object, fmt: AnswerFormat, k: int, gold: object, verifier: str | None = None,
                     question: str | None = None) -> Scored:
    """Parse and verify one completion asking for `k` candidates (cached: several rewards share one verification).

    `question` reaches verifiers that want it (an LLM judge); others never see it.
    """
    return _score_cached(completion_text(completion), fmt, k, _freeze(gold), verifier, question)


def forget_scores() -> None:
    """Drop cached scores: needed after a verifier is registered anew under a name already used."""
    _score_cached.cache_clear()


@dataclass
class VerifierTally:
    """Verifier calls and errors over a batch (or a whole evaluation), with the first error's text."""

    verifier: str | None = None
    calls: int = 0
    errors: int = 0
    first_error: str | None = None

    def add(self, scored: Iterable[Scored]) -> VerifierTally:
        """Count the verified completions among `scored` and those whose verifier raised; returns self."""
        for s in scored:
            if s.verified:
                self.calls += 1
            if s.verifier_error is not None:
                self.errors += 1
                self.first_error = self.first_error or s.verifier_error
        return self

    def check(self, where: str) -> None:
        """Raise VerifierFailure when every call failed and there were at least SYSTEMATIC_MIN_CALLS of them."""
        if self.calls >= SYSTEMATIC_MIN_CALLS and self.errors == self.calls:
            name = self.verifier or "match"
            raise VerifierFailure(
                f"verifier {name!r} raised on all {self.calls} completions of {where} "
                f"(first: {self.first_error}); it is broken for this data, so nothing can be scored"
            )


def score_batch(
    completions: Sequence[object], fmt: AnswerFormat, k: int, answers: Sequence[object] | None,
    verifier: str | None | Sequence[str | None] = None,
) -> list[Scored]:
    """Score a batch as TRL passes it (one gold and verifier per completion); stops on a systematic verifier failure."""
    if answers is None:
        raise ValueError("reward functions need the gold column 'answers' in the data set")
    verifiers = list(verifier) if isinstance(verifier, (list, tuple)) else [verifier] * len(completions)
    scored = [score_completion(c, fmt, k, g, v) for c, g, v in zip(completions, answers, verifiers)]
    names = sorted({v or "match" for v in verifiers})
    VerifierTally(", ".join(names)).add(scored).check("this batch")
    return scored


def matched_gold(verifier_name: str | None, answers: Sequence[str], gold: object) -> list[int | None] | None:
    """Which gold answer each candidate hits, when the verifier can say (match-style verifiers)."""
    matched = getattr(get_verifier(verifier_name), "matched_gold", None)
    return None if matched is None else list(matched(list(answers), gold))
