"""Asking a model plainly (no answer format, no system prompt of ours) and taking the answer out of its reply.

Small chat models answer in sentences ("The noble gas is Argon.", "Paris, France."), so
`extract_answer` keeps the answer-like part of a reply: the first line (past a list header), its
first sentence, the part before a comma or parenthesis, the part after a "The ... is/are" frame
(or on the side of an "X is Y" sentence that does not just repeat the question), without markup,
quotes or trailing punctuation. It is a pure function that never raises, and what it returns is
always a substring of the reply ("" when nothing answer-like is left: a refusal, words of the
question alone, a long sentence, text with tags).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from multianswer.generation.base import Backend, Completion, Messages, SamplingArgs

PLAIN_INSTRUCTION = "Answer with the name only."
MAX_WORDS = 8  # a longer "answer" is a sentence the rules below did not take apart

# list markers, "Answer:", and a chatty opening ("Sure! ", "Of course, ") before the answer
_PREFIX = re.compile(r"^\s*(?:[-*•]\s+|\d{1,2}[.)]\s+|(?:final\s+)?answer\s*[:\-]\s*"
                     r"|(?:sure|certainly|of course|okay|ok|yes|no)\s*[!,.:]\s*)+", re.IGNORECASE)
# a sentence ends at . ! ? before a space, except after an initial or a two-letter abbreviation ("St. Louis", "U.S.")
_SENTENCE_END = re.compile(r"(?<!\b[A-Z])(?<!\b[A-Z][a-z])[.!?](?=\s)")
# a comma, a parenthesis, a dash or a relative clause ("Doha, which is ...", "Doha which is located") ends the answer
_CLAUSE_END = re.compile(r"[,;]|\s[(\[]|\s[-–—]\s|\s(?:which|who|where)\s", re.IGNORECASE)
_VERB = (r"\b(?:is|are|was|were|would be|could be|might be)\b\s*:?\s*"
         r"(?:(?:certainly|probably|definitely|likely|actually|called|named)\b\s*)?")
# "The capital of France is Paris", "Peru's capital is Lima" -> after the last verb; "Paris is the capital" -> before
# the first (after it when the part before only repeats the question: "cities of China is Shanghai")
_LEADING_FRAME = re.compile(rf"^(?:(?:the|a|an|this|that|these|those|it|its|they|my|one|some)\b|\S+['’]s\b).*{_VERB}",
                            re.IGNORECASE)
_FIRST_VERB = re.compile(rf"\s+{_VERB}", re.IGNORECASE)
_WORDS = re.compile(r"\w+")
_STOP = frozenset("the a an of in on at to for from by with and or is are its it this that".split())
_REFUSAL = re.compile(r"^(?:i|i'm|i’m|im|sorry|unfortunately|as an ai|there is no|there are no)\b", re.IGNORECASE)
_EDGE = "\"'`*_“”‘’«».,;:!?()[]{} \t"


def _first_line(text: str) -> str:
    """The first non-empty line, passing over list headers ("The largest cities are:") that have lines after them."""
    lines = [line for line in text.splitlines() if line.strip()]
    return next((line for line in lines if not line.rstrip().endswith(":")), lines[0] if lines else "")


def _cut(text: str, pattern: re.Pattern) -> str:
    m = pattern.search(text)
    return text[: m.start()] if m else text


def _trim(text: str) -> str:
    """`text` without white space, markup, quotes and punctuation at either end."""
    while text != (text := text.strip().strip(_EDGE)):
        pass
    return text


def _candidates(text: str) -> list[str]:
    """Where the answer may sit in a sentence, likeliest first: after 'The X is', else before or after 'is'."""
    m = _LEADING_FRAME.match(text)
    if m:
        return [text[m.end():]]
    m = _FIRST_VERB.search(text)
    return [text[: m.start()], text[m.end():]] if m else [text]


def _echoes(answer: str, question: str) -> bool:
    """True when `answer` has no word of its own: only stop words, or only words of the question ("cities of Peru")."""
    words = {w for w in _WORDS.findall(answer.casefold()) if w not in _STOP}
    return not words or words <= set(_WORDS.findall(question.casefold()))


def extract_answer(reply: str, question: str = "", max_words: int = MAX_WORDS) -> str:
    """The answer in a plain reply to `question`, a substring of the reply ('' when there is none); never raises."""
    if not isinstance(reply, str) or not isinstance(question, str):
        return ""
    text = _first_line(reply)
    prefix = _PREFIX.match(text)
    text = _trim(_cut(_cut(text[prefix.end():] if prefix else text, _SENTENCE_END), _CLAUSE_END))
    answer = next((c for c in map(_trim, _candidates(text)) if not _echoes(c, question)), "")
    if _REFUSAL.match(text) or _REFUSAL.match(answer) or "<" in answer or ">" in answer or len(answer.split()) > max_words:
        return ""
    return answer


def plain_messages(problem: str, instruction: str = PLAIN_INSTRUCTION) -> Messages:
    """One user turn: the question, then the one-line instruction (the model's own chat template does the rest)."""
    return [{"role": "user", "content": f"{problem.strip()}\n{instruction.strip()}".strip()}]


def ask_plainly(backend: Backend, problems: Sequence[str], sampling: SamplingArgs, seeds: Sequence[int],
                instruction: str = PLAIN_INSTRUCTION) -> list[list[Completion]]:
    """`sampling.n` plain replies per problem, in problem order (one seed per problem)."""
    out: list[list[Completion]] = [[] for _ in problems]
    prompts = [plain_messages(p, instruction) for p in problems]
    for i, completions in backend.stream(prompts, sampling, list(seeds)):
        out[i] = completions
    return out
