"""Output formats: system prompts that ask for them, a writer, and one parser for all four.

A completion is untrusted model text. `parse_completion` never raises: it returns a
`ParsedCompletion` whose `reason` says, in one machine-readable word, why a format failed.

    single       <think>…</think><answer>…</answer>
    single-conf  <think>…</think><answer>…</answer>[<analysis>…</analysis>]<confidence>p</confidence>
    multi        <think>…</think><answer1>…</answer1> … <answerK>…</answerK>
    multi-conf   <think>…</think> K × <answer{i}>…</answer{i}><confidence{i}>p_i</confidence{i}>
                 [<analysis>…</analysis>]   (answers and confidences interleaved or grouped)

`FormatRules` makes the parser stricter, as the reference's is: `require_analysis` (confidence
formats must hold a non-empty <analysis>) and `strict_confidence` (decimals only: "0.6" passes,
"60%" fails); its `prompt_style` picks the system prompt: the paper's, or a short one with the
same tags for small models (the parser is the same for both). `with_rules(fmt, rules)` gives a
`RuledFormat` that every function here, and the rewards, accept in place of an AnswerFormat; the
rules travel with it, so training, the warm-up and evaluation prompt alike.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum


class AnswerFormat(str, Enum):
    """The four completion formats of the method."""

    SINGLE = "single"
    SINGLE_CONF = "single-conf"
    MULTI = "multi"
    MULTI_CONF = "multi-conf"

    def __str__(self) -> str:  # the name users write ('multi-conf'), in messages, reports and f-strings
        return self.value

    @property
    def is_multi(self) -> bool:
        return self in (AnswerFormat.MULTI, AnswerFormat.MULTI_CONF)

    @property
    def has_confidence(self) -> bool:
        return self in (AnswerFormat.SINGLE_CONF, AnswerFormat.MULTI_CONF)

    def answers_per_completion(self, k: int) -> int:
        """Candidates one completion holds when K = `k` is asked: K in multi formats, 1 in single ones."""
        return k if self.is_multi else 1


FORMAT_NAMES = tuple(f.value for f in AnswerFormat)


PROMPT_STYLES = ("paper", "short")


@dataclass(frozen=True)
class FormatRules:
    """Optional strictness of the parser (both off by default: small models rarely write an analysis), and the prompt style."""

    require_analysis: bool = False  # confidence formats need a non-empty <analysis> block
    strict_confidence: bool = False  # a confidence is a plain decimal in [0, 1]; "60%" fails
    prompt_style: str = "paper"  # the system prompt: the paper's, or 'short' (same tags, for small models)

    def __post_init__(self) -> None:
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"unknown prompt style {self.prompt_style!r}; choose one of {', '.join(PROMPT_STYLES)}")


LENIENT = FormatRules()


@dataclass(frozen=True)
class RuledFormat:
    """An AnswerFormat with parser rules; accepted wherever an AnswerFormat is."""

    base: AnswerFormat
    rules: FormatRules

    @property
    def value(self) -> str:
        return self.base.value

    @property
    def is_multi(self) -> bool:
        return self.base.is_multi

    @property
    def has_confidence(self) -> bool:
        return self.base.has_confidence

    def answers_per_completion(self, k: int) -> int:
        """Candidates one completion holds when K = `k` is asked (as `AnswerFormat.answers_per_completion`)."""
        return self.base.answers_per_completion(k)

    def __str__(self) -> str:
        return self.base.value


def with_rules(fmt: AnswerFormat | RuledFormat | str, rules: FormatRules | None) -> AnswerFormat | RuledFormat:
    """`fmt` carrying `rules` (the plain AnswerFormat when the rules are the defaults)."""
    base = base_format(fmt)
    return base if rules is None or rules == LENIENT else RuledFormat(base, rules)


def base_format(fmt: AnswerFormat | RuledFormat | str) -> AnswerFormat:
    """The AnswerFormat of `fmt`, without rules."""
    fmt = as_format(fmt)
    return fmt.base if isinstance(fmt, RuledFormat) else fmt


def rules_of(fmt: AnswerFormat | RuledFormat | str) -> FormatRules:
    """The parser rules `fmt` carries (the lenient defaults for a plain format)."""
    return fmt.rules if isinstance(fmt, RuledFormat) else LENIENT


def as_format(fmt: AnswerFormat | RuledFormat | str) -> AnswerFormat | RuledFormat:
    """Turn a format name ('multi-conf', …) into an AnswerFormat, with a clear error; formats pass through."""
    if isinstance(fmt, (AnswerFormat, RuledFormat)):
        return fmt
    try:
        return AnswerFormat(str(fmt).strip().lower().replace("_", "-"))
    except ValueError:
        raise ValueError(f"unknown answer format {fmt!r}; choose one of {', '.join(FORMAT_NAMES)}") from None


@dataclass(frozen=True)
class ParsedCompletion:
    """What a completion says: its candidates, their confidences, and whether the format holds."""

    answers: tuple[str, ...]
    confidences: tuple[float, ...] | None
    format_ok: bool
    reason: str  # "ok" or why not, e.g. "missing_think", "bad_confidence", "wrong_count"
    n_written: int  # answer tags actually written, valid or not
    think: str | None = None
    analysis: str | None = None


# ---------------------------------------------------------------------------- prompts

_FORMAT_LINES = {
    AnswerFormat.SINGLE: "<think>your reasoning</think><answer>your answer</answer>",
    AnswerFormat.SINGLE_CONF: (
        "<think>your reasoning</think><answer>your answer</answer>"
        "<analysis>why you might be wrong</analysis><confidence>a number between 0 and 1</confidence>"
    ),
}


def _multi_format_line(k: int, with_confidence: bool) -> str:
    parts = ["<think>your reasoning</think>"]
    for i in range(1, k + 1):
        parts.append(f"<answer{i}>candidate {i}</answer{i}>")
        if with_confidence:
            parts.append(f"<confidence{i}>probability that candidate {i} is right</confidence{i}>")
    if with_confidence:
        parts.append("<analysis>how the uncertainty is spread across the candidates</analysis>")
    return "".join(parts)


def system_prompt(fmt: AnswerFormat | RuledFormat | str, k: int = 1, task_instruction: str = "") -> str:
    """The system prompt that explains format `fmt` (with `k` candidates for multi formats), in the rules' prompt style."""
    rules, fmt = rules_of(as_format(fmt)), base_format(fmt)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    short = rules.prompt_style == "short"
    lines = _short_lines(fmt, k) if short else _paper_lines(fmt, k)
    lines += _rule_lines(fmt, rules)
    lines.append(_SHORT_CLOSING if short else _PAPER_CLOSING)
    if task_instruction:
        lines.append(task_instruction.strip())
    return "\n".join(lines)


_PAPER_CLOSING = "Each answer tag must hold only the answer itself, with no explanation: it is graded by matching."
_SHORT_CLOSING = "Answer tags hold only the answer."


def _paper_lines(fmt: AnswerFormat, k: int) -> list[str]:
    """The paper's explanation of the format (about 200 tokens for multi-conf at K = 3)."""
    lines = ["Think about the problem step by step inside <think></think> before answering."]
    if fmt.is_multi:
        lines.append(
            f"Then give exactly {k} DISTINCT candidate answers, ranked from most to least likely, "
            "each as a different plausible answer, not a rewording of another."
        )
        lines.append("Use exactly this format: " + _multi_format_line(k, fmt.has_confidence))
        if fmt.has_confidence:
            lines.append(
                "Each confidence is the probability (0 to 1) that that candidate is correct. "
                "The candidates are mutually exclusive hypotheses, so the confidences must sum to at most 1."
            )
    else:
        lines.append("Then give one final answer. Use exactly this format: " + _FORMAT_LINES[fmt])
        if fmt.has_confidence:
            lines.append("The confidence is the probability (0 to 1) that your answer is correct.")
    return lines


def _short_lines(fmt: AnswerFormat, k: int) -> list[str]:
    """The short style: the paper's tags, the first candidate's shown and the last one's named (<= 60 tokens in all)."""
    # a 135M model reads a 240-token prompt as noise; every tag pair costs ~8 tokens, so only the first is spelled out
    if not fmt.is_multi:
        if fmt.has_confidence:
            return ["Reason in <think></think>. Give one answer and the probability that it is right:",
                    "<answer>…</answer><confidence>0.7</confidence>"]
        return ["Reason in <think></think>. Give one answer:", "<answer>…</answer>"]
    # with confidences the order carries nothing (metrics rank by confidence): the words go to the sum rule
    ask = "each with its probability (sum at most 1)" if fmt.has_confidence else "most likely first"
    first = "<answer1>…</answer1>" + ("<confidence1>0.5</confidence1>" if fmt.has_confidence else "")
    return [f"Reason in <think></think>. Give {k} distinct answers, {ask}:",
            first + (f", likewise to <answer{k}>." if k > 1 else "")]


def _rule_lines(fmt: AnswerFormat, rules: FormatRules) -> list[str]:
    """What the stricter rules demand, said in the prompt so that the model can follow them."""
    if not fmt.has_confidence:
        return []
    lines = []
    if rules.require_analysis:
        lines.append("The <analysis></analysis> block is required.")
    if rules.strict_confidence:
        lines.append("Write each confidence as a decimal number such as 0.35, not as a percentage.")
    return lines


def user_prompt(problem: str, fmt: AnswerFormat | RuledFormat | str, k: int = 1) -> str:
    """The user turn: the problem, then a reminder of how many answers to give."""
    fmt = as_format(fmt)
    tail = f"Give exactly {k} distinct answers." if fmt.is_multi else "Give one answer."
    return f"{problem.strip()}\n\n{tail}"


def chat_messages(problem: str, fmt: AnswerFormat | RuledFormat | str, k: int = 1, task_instruction: str = "") -> list[dict]:
    """System + user messages for a chat template."""
    return [
        {"role": "system", "content": system_prompt(fmt, k, task_instruction)},
        {"role": "user", "content": user_prompt(problem, fmt, k)},
    ]


# ---------------------------------------------------------------------------- writer

def format_completion(
    answers: list[str],
    fmt: AnswerFormat | RuledFormat | str,
    confidences: list[float] | None = None,
    think: str = "Let me think.",
    analysis: str | None = None,
    grouped: bool = False,
) -> str:
    """Write a completion in format `fmt` (the inverse of `parse_completion`)."""
    fmt = base_format(fmt)
    if fmt.has_confidence and (confidences is None or len(confidences) != len(answers)):
        raise ValueError(f"format {fmt.value} needs one confidence per answer")
    out = [f"<think>{think}</think>"]
    if not fmt.is_multi:
        if len(answers) != 1:
            raise ValueError(f"format {fmt.value} takes exactly one answer, got {len(answers)}")
        out.append(f"<answer>{answers[0]}</answer>")
        if analysis is not None:
            out.append(f"<analysis>{analysis}</analysis>")
        if fmt.has_confidence:
            out.append(f"<confidence>{confidences[0]:g}</confidence>")
        return "".join(out)
    tags_a = [f"<answer{i}>{a}</answer{i}>" for i, a in enumerate(answers, 1)]
    tags_c = [f"<confidence{i}>{p:g}</confidence{i}>" for i, p in enumerate(confidences or [], 1)]
    if grouped or not fmt.has_confidence:
        out += tags_a
        if analysis is not None:
            out.append(f"<analysis>{analysis}</analysis>")
        out += tags_c
    else:
        out += [a + c for a, c in zip(tags_a, tags_c)]
        if analysis is not None:
            out.append(f"<analysis>{analysis}</analysis>")
    return "".join(out)


# ---------------------------------------------------------------------------- parser

_TAG = re.compile(r"<(/?)(think|answer|confidence|analysis)(\d{0,3})>", re.IGNORECASE)
# the example text of the system prompt: a model that copies it must not score as answering
_PLACEHOLDER = re.compile(r"^(candidate \d+|your answer|…)$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*$")


def parse_confidence(text: str, strict: bool = False) -> float | None:
    """'0.7', '.7', '70%', ' 0.70 ' -> 0.7 ('70%' is None when `strict`); None for anything not a probability."""
    m = _NUMBER.match(text)
    if m is None or (strict and m.group(2)):
        return None
    value = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def _fail(reason: str, n_written: int = 0, think: str | None = None) -> ParsedCompletion:
    return ParsedCompletion((), None, False, reason, n_written, think)


def _blocks(text: str) -> tuple[list[tuple[str, str, str]], str | None]:
    """Split `text` into (name, index, body) blocks; a reason string when the tags do not balance."""
    blocks, open_tag, start = [], None, 0
    for m in _TAG.finditer(text):
        closing, name, index = m.group(1) == "/", m.group(2).lower(), m.group(3)
        if not closing:
            if open_tag is not None:
                return blocks, "nested_tags"
            open_tag, start = (name, index), m.end()
        else:
            if open_tag != (name, index):
                return blocks, "unbalanced_tags"
            blocks.append((name, index, text[start : m.start()]))
            open_tag = None
    return blocks, ("unbalanced_tags" if open_tag is not None else None)


def parse_completion(text: object, fmt: AnswerFormat | RuledFormat | str, k: int | None = None) -> ParsedCompletion:
    """Parse a completion in format `fmt` expecting `k` candidates (1 for single formats)."""
    rules, fmt = rules_of(as_format(fmt)), base_format(fmt)
    k = fmt.answers_per_completion(k if k is not None else 1)
    if not isinstance(text, str):
        text = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray)) else str(text)
    blocks, broken = _blocks(text)
    answer_blocks = [b for b in blocks if b[0] == "answer"]
    n_written = len(answer_blocks)
    if broken:
        return _fail(broken, n_written)

    thinks = [b for b in blocks if b[0] == "think"]
    if not thinks or blocks[0][0] != "think":
        return _fail("missing_think", n_written)
    if len(thinks) > 1 or thinks[0][1]:
        return _fail("extra_think", n_written)
    think = thinks[0][2].strip()
    if not think:
        return _fail("empty_think", n_written)

    analyses = [b for b in blocks if b[0] == "analysis"]
    if len(analyses) > 1 or any(b[1] for b in analyses):
        return _fail("extra_analysis", n_written, think)
    analysis = analyses[0][2].strip() if analyses else None

    want = [str(i) for i in range(1, k + 1)] if fmt.is_multi else [""]
    answers = _collect(answer_blocks, want)
    if answers is None:
        return _fail("wrong_count" if n_written != k else "bad_answer_tags", n_written, think)
    if any(not a for a in answers):
        return _fail("empty_answer", n_written, think)
    if any(_PLACEHOLDER.match(a) for a in answers):  # the prompt's template copied verbatim
        return _fail("placeholder_answer", n_written, think)

    conf_blocks = [b for b in blocks if b[0] == "confidence"]
    confidences = None
    if fmt.has_confidence:
        raw = _collect(conf_blocks, want)
        if raw is None:
            return _fail("missing_confidence", n_written, think)
        values = [parse_confidence(c, rules.strict_confidence) for c in raw]
        if any(v is None for v in values):
            return _fail("bad_confidence", n_written, think)
        confidences = tuple(values)
        if rules.require_analysis and not analysis:
            return _fail("missing_analysis", n_written, think)
    elif conf_blocks:
        return _fail("unexpected_confidence", n_written, think)

    return ParsedCompletion(tuple(answers), confidences, True, "ok", n_written, think, analysis)


def _collect(blocks: list[tuple[str, str, str]], want: list[str]) -> list[str] | None:
    """Bodies of `blocks` in the order of `want` indices; None unless each index appears exactly once."""
    if len(blocks) != len(want):
        return None
    by_index = {index: body.strip() for _, index, body in blocks}
    if sorted(by_index) != sorted(want):
        return None
    return [by_index[i] for i in want]
