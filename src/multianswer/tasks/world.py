"""A toy world whose answers live in the model's memory, not in the question.

The procedural tasks put every answer in the question's text. The paper's tasks do not: QA
and diagnosis draw on what the model learned in pre-training. This world is small enough for
the demo's tiny model to learn in its warm-up, and its gold is exact.

`world-sets` (set-valued knowledge, like HotPotQA-Modified or AmbigQA): "What does the zorb
eat?" Each made-up creature has, per question, a set of 3-5 valid answers with uneven
weights. The pre-training split shows ONE valid answer per example, drawn by weight, so a
model spreads its probability over the set unevenly, as a pre-trained LM does. Every
(creature, question) pair is in the pre-training split; RL trains on one half of the pairs
and evaluation runs on the other. Like real knowledge the facts have structure: each
creature belongs to one of a few hidden clans, and a clan's members share their answer
sets. Nothing in a question names the clan, so the answers still live only in memory, but
a tiny model learns 30 clan memberships far faster than 120 unrelated facts.

`world-cases` (known distributions, like DDXPlus): "A patient has cough, rash and thirst.
Which illness is it?" Three symptoms fix a distribution over 8 illnesses by a rule the
generator knows: P(illness | symptoms) ∝ exp(Σ_s W[s, illness]) with a fixed sparse W. The
gold of an example is ONE drawn illness; the true distribution is in
`metadata['probabilities']`, so the calibrated optimum is known exactly. Held-out cases are
symptom triples that neither pre-training nor RL ever show. Each training triple is drawn 20
times, and its RL rows carry all 20 labels (`label_draws`), like a question with several
annotators: with `reward_over_draws` the rewards average over them.

`world-mix` is both kinds, half and half (what the demo trains on). The world is fixed by its
seed: same names, sets, weights, W and splits on every machine.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from functools import lru_cache

from multianswer.tasks.base import Example, Task, register_task
from multianswer.tasks.procedural import draw

CREATURES = (
    "zorb quil mav tesk brun florp gax wim dorl snib yarp kelt vosh pim grol nax tib fenk jov rusk "
    "blip marn oskel drib lupo zant harb quorn sleck tav"
).split()
# question -> the one-word answers it draws from; every creature has 3-5 of them per question
QUESTIONS = {
    "What does the {c} eat?": "apples bread fish grass honey nuts seeds worms berries cheese".split(),
    "Where does the {c} live?": "caves hills lakes woods rivers swamps fields towers dunes reefs".split(),
    "What does the {c} fear?": "fire wind thunder owls dogs snow darkness rain noise ice".split(),
    "Which colour is the {c}?": "red blue green yellow black white orange purple grey brown".split(),
}
SET_SIZES = (3, 4, 5)
CLANS = 5  # hidden groups of creatures that share their answer sets
SYMPTOMS = "cough rash fever ache sneeze cramp blister dizzy swelling thirst shiver wheeze".split()
ILLNESSES = "blight chill drift gloom itch murk pox rot".split()
SYMPTOMS_PER_CASE = 3
# each symptom raises the log-odds of 3 illnesses by these amounts: a sparse, known W
# (on the held-out triples the top answer has 0.52 of the mass on average, the top 3 0.82)
SYMPTOM_WEIGHTS = (2.0, 1.2, 0.6)
TEST_CASES = 100  # symptom triples held out from pre-training and RL (of 220)
DRAWS_PER_TRAIN_CASE = 20  # RL sees each training triple with this many drawn labels


# ---------------------------------------------------------------------------- set-valued knowledge


@lru_cache(maxsize=4)
def knowledge(seed: int = 0) -> dict[tuple[str, str], dict[str, float]]:
    """(creature, question template) -> {valid answer: weight}, weights uneven and summing to 1."""
    rng = random.Random(f"world-knowledge/{seed}")
    clan_facts = []
    for _ in range(CLANS):
        facts = {}
        for template, pool in QUESTIONS.items():
            answers = rng.sample(pool, rng.choice(SET_SIZES))
            raw = [1.0 / (rank + 1) for rank in range(len(answers))]  # Zipf: the first is twice the second
            facts[template] = {a: w / sum(raw) for a, w in zip(answers, raw)}
        clan_facts.append(facts)
    members = [i % CLANS for i in range(len(CREATURES))]
    rng.shuffle(members)
    return {(c, t): clan_facts[clan][t] for c, clan in zip(CREATURES, members) for t in QUESTIONS}


def _set_example(split: str, index: int, creature: str, template: str, weights: dict[str, float]) -> Example:
    meta = {"creature": creature, "weights": weights, "labels": QUESTIONS[template]}
    return Example(f"world-sets-{split}-{index}", template.format(c=creature), list(weights), "match", meta)


@lru_cache(maxsize=4)
def set_examples(seed: int = 0) -> dict[str, list[Example]]:
    """world-sets by split: pretrain = every pair; train and test = disjoint halves of the pairs."""
    pairs = sorted(knowledge(seed).items())
    order = list(range(len(pairs)))
    random.Random(f"world-sets-split/{seed}").shuffle(order)
    half = len(order) // 2
    splits = {"pretrain": list(range(len(pairs))), "train": sorted(order[half:]), "test": sorted(order[:half])}
    return {
        split: [_set_example(split, i, *pairs[j][0], pairs[j][1]) for i, j in enumerate(chosen)]
        for split, chosen in splits.items()
    }


# ---------------------------------------------------------------------------- known distributions


@lru_cache(maxsize=4)
def symptom_weights(seed: int = 0) -> dict[str, dict[str, float]]:
    """W: symptom -> {illness: log-odds added}; each symptom raises 3 illnesses."""
    rng = random.Random(f"world-symptoms/{seed}")
    return {s: dict(zip(rng.sample(ILLNESSES, len(SYMPTOM_WEIGHTS)), SYMPTOM_WEIGHTS)) for s in SYMPTOMS}


def case_distribution(symptoms: tuple[str, ...], seed: int = 0) -> dict[str, float]:
    """P(illness | symptoms) ∝ exp(Σ_s W[s, illness]), over every illness (in ILLNESSES order)."""
    w = symptom_weights(seed)
    scores = {d: math.exp(sum(w[s].get(d, 0.0) for s in symptoms)) for d in ILLNESSES}
    total = sum(scores.values())
    return {d: v / total for d, v in scores.items()}


def case_question(symptoms: tuple[str, ...]) -> str:
    """'A patient has cough, rash and thirst. Which illness is it?'"""
    listed = ", ".join(symptoms[:-1]) + " and " + symptoms[-1]
    return f"A patient has {listed}. Which illness is it?"


def _case_example(split: str, index: int, symptoms: tuple[str, ...], rng: random.Random, seed: int) -> Example:
    shown = tuple(rng.sample(symptoms, len(symptoms)))  # the rule ignores order; the text need not
    probabilities = case_distribution(symptoms, seed)
    gold = draw(probabilities, rng)
    meta = {"symptoms": sorted(symptoms), "probabilities": probabilities, "labels": list(ILLNESSES)}
    return Example(f"world-cases-{split}-{index}", case_question(shown), [gold], "match", meta)


@lru_cache(maxsize=4)
def case_examples(seed: int = 0) -> dict[str, list[Example]]:
    """world-cases by split: test triples are never in pretrain or train; each example is one draw."""
    triples = list(itertools.combinations(SYMPTOMS, SYMPTOMS_PER_CASE))
    random.Random(f"world-cases-split/{seed}").shuffle(triples)
    test, seen = sorted(triples[:TEST_CASES]), sorted(triples[TEST_CASES:])
    rng = random.Random(f"world-cases-draws/{seed}")
    out = {"test": [_case_example("test", i, t, rng, seed) for i, t in enumerate(test)]}
    for split in ("pretrain", "train"):  # the same triples, drawn apart
        repeated = [t for t in seen for _ in range(DRAWS_PER_TRAIN_CASE)]
        rng.shuffle(repeated)
        out[split] = [_case_example(split, i, t, rng, seed) for i, t in enumerate(repeated)]
    # RL's rows also carry every label drawn for their triple (the same labels, grouped): with reward_over_draws a
    # GRPO group's rewards average over them instead of hanging on the one draw its row was dealt
    draws: dict[tuple[str, ...], list] = {}
    for ex in out["train"]:
        draws.setdefault(tuple(ex.metadata["symptoms"]), []).append(ex.answers)
    out["train"] = [dataclasses.replace(ex, label_draws=draws[tuple(ex.metadata["symptoms"])]) for ex in out["train"]]
    return out


# ---------------------------------------------------------------------------- registry


def _mixed(seed: int) -> dict[str, list[Example]]:
    """Both kinds alternating (sets, cases, sets, ...); for training the shorter kind repeats, so each is half."""
    sets, cases = set_examples(seed), case_examples(seed)
    out = {}
    for split in ("pretrain", "train", "test"):
        a, b = sets[split], cases[split]
        n = max(len(a), len(b)) if split != "test" else min(len(a), len(b))
        rows = [ex for i in range(n) for ex in (a[i % len(a)], b[i % len(b)])]
        out[split] = [dataclasses.replace(ex, id=f"world-mix-{split}-{i}") for i, ex in enumerate(rows)]
    return out


SPLITS = ("train", "test", "pretrain")
# one instruction for every world task: RL on world-mix and evaluation on each kind see the same prompt
INSTRUCTION = "Each answer is one word."
# name -> (description, examples by split)
WORLD_TASKS = {
    "world-sets": (
        "made-up creatures' facts, each a set of 3-5 valid answers learned in pre-training; gold = the whole set",
        set_examples,
    ),
    "world-cases": (
        "symptoms fix a known distribution over 8 illnesses; gold = one draw (true probabilities in metadata)",
        case_examples,
    ),
    "world-mix": ("world-sets and world-cases questions, alternating", _mixed),
}


def world(name: str, seed: int = 0) -> Task:
    """The world task `name` (a key of WORLD_TASKS); its `pretrain` split is what a base model learns from."""
    description, build = WORLD_TASKS[name]
    return Task(
        name=name,
        description=description,
        source=f"generated toy world (seed {seed})",
        load=lambda split: build(seed)[split],
        splits=SPLITS,
        instruction=INSTRUCTION,
        sizes=lambda: {split: len(build(seed)[split]) for split in SPLITS},
    )


for _name in WORLD_TASKS:
    register_task(_name, lambda name=_name: world(name))
