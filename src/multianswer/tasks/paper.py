"""The paper's question-answering benchmarks: HotPotQA-Modified and AmbigQA (AmbigNQ).

Two sources for each. The authors' own hub copies, which the reference trains on
(`hotpotqa-authors`: mehuldamani/hotpot_qa, `ambigqa-authors`: mehuldamani/ambigQA; and
`ddxplus`: mehuldamani/medDataset_25k in `ddxplus.py`), read as the reference reads them:
the problem from `question`, else `problem`; the gold from `answers`, else `answer`. Or a
rebuild from upstream (`hotpotqa-modified`, `ambigqa`), in both the hub layout (columns of
lists) and the original release layout (lists of records). Every task also reads local files
in its schema (`NAME:/path`, see `sources`).
"""

from __future__ import annotations

import itertools
import random
from functools import lru_cache
from typing import Any

from multianswer.core.matching import answer_keys
from multianswer.tasks.base import Example, Task, register_task
from multianswer.tasks.sources import HubSource, as_list, split_rows

# ---------------------------------------------------------------------------- the authors' hub copies

# the reference's dataset_processing.py takes `question` before `problem`; its accuracy_reward `answers` before `answer`
AUTHORS_PROBLEM_COLUMNS = ("question", "problem")
AUTHORS_GOLD_COLUMNS = ("answers", "answer")
AUTHORS_SPLITS = {"train": "train", "test": "test"}
HOTPOT_INSTRUCTION = (
    "The context may lack facts the question needs; then give your best guesses. "
    "Each answer is a short span: a name, a date, a number, or yes/no."
)
AMBIG_INSTRUCTION = (
    "The question may be ambiguous: cover its different readings. Each answer is a short span: a name, a date or a number."
)


def _first_present(row: dict, columns: tuple[str, ...]):
    for column in columns:
        if row.get(column) not in (None, ""):
            return row[column]
    raise KeyError(" or ".join(columns))  # becomes "row N: missing field ..." with the file named


def authors_example(prefix: str, row: dict, number: int, split: str, metadata: dict | None = None) -> Example:
    """One row of an authors' copy: the problem text as given; the gold a string, or a list of accepted
    answers (items may be alias lists), also when a CSV file stores the list as text."""
    gold = _first_present(row, AUTHORS_GOLD_COLUMNS)
    if not isinstance(gold, str) or gold.lstrip().startswith("["):
        gold = [g if isinstance(g, (list, tuple)) else str(g) for g in as_list(gold)]
    else:
        gold = [gold]
    ident = row.get("id") or row.get("_id") or f"{split}-{number}"
    return Example(f"{prefix}-{ident}", str(_first_present(row, AUTHORS_PROBLEM_COLUMNS)), gold, "match", metadata or {})


def authors_task(name: str, hub: HubSource, description: str, instruction: str, location: str = "",
                 convert=authors_example) -> Task:
    """A task over an authors' copy (hub, or a local file with the same columns); `convert` builds each example."""

    @lru_cache(maxsize=None)
    def load(split: str) -> list[Example]:
        numbers = itertools.count()
        return list(split_rows(name, location, AUTHORS_SPLITS, hub, split,
                               lambda row: convert(name, row, next(numbers), split)))

    return Task(name, description, hub.describe(), load, tuple(AUTHORS_SPLITS), instruction)


HOTPOT_AUTHORS_HUB = HubSource("mehuldamani/hotpot_qa", None, AUTHORS_SPLITS)
AMBIG_AUTHORS_HUB = HubSource("mehuldamani/ambigQA", None, AUTHORS_SPLITS)


def hotpotqa_authors(location: str = "") -> Task:
    """HotPotQA-Modified as the authors published it (the reference's training data)."""
    return authors_task("hotpotqa-authors", HOTPOT_AUTHORS_HUB,
                        "HotPotQA-Modified, the authors' hub copy (what the reference trains on)", HOTPOT_INSTRUCTION, location)


def ambigqa_authors(location: str = "") -> Task:
    """AmbigQA as the authors published it (the reference's training data)."""
    return authors_task("ambigqa-authors", AMBIG_AUTHORS_HUB,
                        "AmbigQA, the authors' hub copy (what the reference trains on)", AMBIG_INSTRUCTION, location)

# ---------------------------------------------------------------------------- HotPotQA-Modified

HOTPOT_HUB = HubSource("hotpotqa/hotpot_qa", "distractor", {"train": "train", "test": "validation"})
HOTPOT_UPSTREAM = {"train": "train", "test": "validation"}
HOTPOT_SIZES = {"train": 20000, "test": 500}
MAX_PROBLEM_CHARS = 6000
EDITS = ("drop_2_distractors", "drop_1_support_1_distractor", "drop_2_supports")


def hotpot_paragraphs(row: dict) -> list[tuple[str, list[str]]]:
    """(title, sentences) per context paragraph, from the hub or the original JSON layout."""
    context = row["context"]
    if isinstance(context, dict):  # hub: {"title": [...], "sentences": [[...], ...]}
        return [(t, list(s)) for t, s in zip(context["title"], context["sentences"])]
    return [(t, list(s)) for t, s in context]  # original: [[title, [sentences]], ...]


def hotpot_supporting_titles(row: dict) -> list[str]:
    """Titles of the supporting paragraphs, in first-mention order."""
    facts = row["supporting_facts"]
    titles = facts["title"] if isinstance(facts, dict) else [fact[0] for fact in facts]
    return list(dict.fromkeys(titles))


def edit_paragraphs(
    paragraphs: list[tuple[str, list[str]]], supporting: list[str], rng: random.Random
) -> tuple[str, list[tuple[str, list[str]]], list[str]]:
    """Apply one of the three edits, drawn uniformly: (edit name, kept paragraphs, dropped titles).

    drop_2_distractors: two non-supporting paragraphs go; drop_1_support_1_distractor: one
    supporting and one non-supporting go; drop_2_supports: both supporting paragraphs go.
    """
    edit = rng.choice(EDITS)
    support = [t for t, _ in paragraphs if t in supporting]
    other = [t for t, _ in paragraphs if t not in supporting]
    n_support, n_other = {"drop_2_distractors": (0, 2), "drop_1_support_1_distractor": (1, 1), "drop_2_supports": (2, 0)}[edit]
    dropped = rng.sample(support, min(n_support, len(support))) + rng.sample(other, min(n_other, len(other)))
    kept = [(t, s) for t, s in paragraphs if t not in dropped]
    return edit, kept, dropped


def hotpot_problem(question: str, paragraphs: list[tuple[str, list[str]]]) -> str:
    """The prompt text: the remaining paragraphs, then the question."""
    blocks = [f"Title: {title}\n{''.join(sentences).strip()}" for title, sentences in paragraphs]
    return "Context:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question.strip()}"


def hotpot_example(row: dict, seed: int) -> Example | None:
    """One edited HotpotQA question, or None when the problem is over the length limit."""
    qid = str(row.get("id") or row.get("_id"))
    rng = random.Random(f"hotpot/{seed}/{qid}")  # per question, so the edit does not depend on file order
    supporting = hotpot_supporting_titles(row)
    edit, kept, dropped = edit_paragraphs(hotpot_paragraphs(row), supporting, rng)
    problem = hotpot_problem(row["question"], kept)
    if len(problem) > MAX_PROBLEM_CHARS:
        return None
    meta = {"edit": edit, "dropped_titles": dropped, "supporting_titles": supporting,
            "type": row.get("type"), "level": row.get("level")}
    return Example(f"hotpot-{qid}", problem, [row["answer"]], "match", meta)


def hotpot_modified(location: str = "", seed: int = 0) -> Task:
    """HotPotQA-Modified: distractor questions with paragraphs removed (docs/method.md, docs/data.md)."""

    @lru_cache(maxsize=None)
    def load(split: str) -> list[Example]:
        out: list[Example] = []
        for example in split_rows("hotpotqa-modified", location, HOTPOT_UPSTREAM, HOTPOT_HUB, split,
                                  lambda row: hotpot_example(row, seed)):
            if example is not None:
                out.append(example)
                if len(out) == HOTPOT_SIZES[split]:
                    break
        return out

    return Task(
        "hotpotqa-modified",
        "HotpotQA distractor questions with 2 paragraphs removed (maybe the supporting ones)",
        HOTPOT_HUB.describe(),
        load,
        ("train", "test"),
        HOTPOT_INSTRUCTION,
    )


# ---------------------------------------------------------------------------- AmbigQA

AMBIG_HUB = HubSource("sewon/ambig_qa", "light", {"train": "train", "test": "validation"})
AMBIG_UPSTREAM = {"train": "train", "test": "validation"}


def _annotation_records(annotations: Any) -> list[dict]:
    """Annotations as a list of {type, answer?, qaPairs?} records, from either layout."""
    if isinstance(annotations, dict):  # hub: columns of lists
        records = []
        for i, kind in enumerate(annotations.get("type", [])):
            answer = annotations.get("answer", [[]] * (i + 1))[i]
            pairs = annotations.get("qaPairs", [{}] * (i + 1))[i] or {}
            qa = [{"question": q, "answer": a} for q, a in zip(pairs.get("question", []), pairs.get("answer", []))]
            records.append({"type": kind, "answer": answer, "qaPairs": qa})
        return records
    return list(annotations or [])


def _keys_of(aliases: list[str]) -> set[str]:
    return set().union(*(answer_keys(a) for a in aliases))


def ambig_gold(annotations: Any) -> tuple[list[list[str]], list[str]]:
    """(alias groups of every valid answer across interpretations and annotators, disambiguated questions).

    Groups that share a normalised alias are merged, so one answer written two ways counts once.
    """
    groups: list[list[str]] = []
    questions: list[str] = []
    for record in _annotation_records(annotations):
        if record.get("type") == "singleAnswer":
            found = [record.get("answer") or []]
        else:
            found = [pair.get("answer") or [] for pair in record.get("qaPairs") or []]
            questions += [pair["question"] for pair in record.get("qaPairs") or [] if pair.get("question")]
        for aliases in found:
            aliases = [a for a in ([aliases] if isinstance(aliases, str) else aliases) if a and a.strip()]
            keys = _keys_of(aliases)
            merged = [g for g in groups if not keys.isdisjoint(_keys_of(g))]
            group = list(dict.fromkeys([a for g in merged for a in g] + aliases))
            groups = [g for g in groups if g not in merged]
            if group:
                groups.append(group)
    return groups, list(dict.fromkeys(questions))


def ambig_problem(question: str) -> str:
    """NQ questions are lower case without a question mark; make them read as questions."""
    question = question.strip()
    question = question[:1].upper() + question[1:]
    return question if question.endswith("?") else question + "?"


def ambig_example(row: dict) -> Example | None:
    """One AmbigNQ question with every valid answer, or None when it has no answer at all."""
    gold, questions = ambig_gold(row["annotations"])
    if not gold:
        return None
    kinds = [r.get("type") for r in _annotation_records(row["annotations"])]
    meta = {"types": kinds, "disambiguated_questions": questions}
    return Example(f"ambigqa-{row['id']}", ambig_problem(row["question"]), gold, "match", meta)


def ambigqa(location: str = "") -> Task:
    """AmbigQA (AmbigNQ light): gold = all valid answers across interpretations."""

    @lru_cache(maxsize=None)
    def load(split: str) -> list[Example]:
        examples = split_rows("ambigqa", location, AMBIG_UPSTREAM, AMBIG_HUB, split, ambig_example)
        return [ex for ex in examples if ex is not None]

    return Task(
        "ambigqa",
        "ambiguous open-domain questions (AmbigNQ); gold = every answer across interpretations",
        AMBIG_HUB.describe(),
        load,
        ("train", "test"),
        AMBIG_INSTRUCTION,
    )


# 'NAME:LOCATION' passes LOCATION as the factories' first argument
register_task("hotpotqa-modified", hotpot_modified)
register_task("hotpotqa-modified:", hotpot_modified)
register_task("ambigqa", ambigqa)
register_task("ambigqa:", ambigqa)
register_task("hotpotqa-authors", hotpotqa_authors)
register_task("hotpotqa-authors:", hotpotqa_authors)
register_task("ambigqa-authors", ambigqa_authors)
register_task("ambigqa-authors:", ambigqa_authors)
