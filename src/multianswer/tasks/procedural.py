"""Procedural tasks with exact gold: answer sets by enumeration, and hidden draws from stated odds.

`procedural-sets`: "Name a prime number between 20 and 60." The gold is every valid answer,
found by enumerating the (small) candidate range, so the match verifier is exact.

`procedural-draws`: "A bag holds 5 red, 3 blue and 2 green marbles. One is drawn at random.
What colour is it?" The gold is ONE hidden draw from the stated distribution; the true
probabilities are in `metadata['probabilities']`, so the calibrated optimum is known: the K
most likely items with confidences equal to their probabilities.

Each example is a pure function of (seed, split, index), so the train split can be long and
lazy. Train and test never share a question: a question belongs to the test pool exactly when
a hash of its text falls in a fixed 1-in-8 slice.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Sequence
from functools import lru_cache

from multianswer.tasks.base import Example, Task, register_task
from multianswer.tasks.lazy import LazyExamples

Made = tuple[str, list, dict]  # (question, answers, metadata)
TEST_SLICE = 8  # one question in TEST_SLICE belongs to the test pool


def is_test_question(question: str) -> bool:
    """Whether `question` belongs to the test pool (stable across runs and machines)."""
    return zlib.crc32(question.encode("utf-8")) % TEST_SLICE == 0


def _draw_for_split(maker: Callable[[random.Random], Made], key: str, test: bool) -> Made:
    """The first question from the RNG keyed by `key` that falls in the wanted pool."""
    rng = random.Random(key)  # str seeds go through SHA-512: the same on every run and platform
    while True:
        made = maker(rng)
        if is_test_question(made[0]) == test:
            return made


def procedural_task(
    name: str,
    description: str,
    maker: Callable[[random.Random], Made],
    instruction: str,
    seed: int = 0,
    n_train: int = 20000,
    n_test: int = 500,
) -> Task:
    """A task whose examples come from `maker(rng)`, with disjoint question pools per split."""

    def make_train(i: int) -> Example:
        question, answers, meta = _draw_for_split(maker, f"{name}/{seed}/train/{i}", test=False)
        return Example(f"{name}-train-{i}", question, answers, "match", {**meta, "seed": seed})

    @lru_cache(maxsize=1)
    def test_examples() -> list[Example]:
        # the test split is small: build it once, without repeated questions
        out: list[Example] = []
        seen: set[str] = set()
        attempt = 0
        while len(out) < n_test and attempt < 50 * n_test:
            question, answers, meta = _draw_for_split(maker, f"{name}/{seed}/test/{attempt}", test=True)
            attempt += 1
            if question not in seen:
                seen.add(question)
                out.append(Example(f"{name}-test-{len(out)}", question, answers, "match", {**meta, "seed": seed}))
        return out

    def load(split: str) -> Sequence[Example]:
        return LazyExamples(n_train, make_train) if split == "train" else test_examples()

    return Task(
        name=name,
        description=description,
        source=f"generated (seed {seed})",
        load=load,
        splits=("train", "test"),
        instruction=instruction,
        sizes=lambda: {"train": n_train, "test": n_test},
    )


# ---------------------------------------------------------------------------- answer sets


def _primes_upto(n: int) -> list[bool]:
    sieve = [False, False] + [True] * (n - 1)
    for p in range(2, int(n**0.5) + 1):
        if sieve[p]:
            sieve[p * p :: p] = [False] * len(sieve[p * p :: p])
    return sieve


_IS_PRIME = _primes_upto(1000)
MIN_ANSWERS, MAX_ANSWERS = 3, 12
_RANGE_RULES: dict[str, tuple[str, Callable[..., bool]]] = {
    "primes": ("a prime number", lambda x: _IS_PRIME[x]),
    "multiples": ("a multiple of {m}", lambda x, m: x % m == 0),
    "even": ("an even number", lambda x: x % 2 == 0),
    "odd": ("an odd number", lambda x: x % 2 == 1),
    "squares": ("a perfect square", lambda x: int(round(x**0.5)) ** 2 == x),
}


def set_question(family: str, **params: int) -> tuple[str, list[int]]:
    """The question of a set family with its parameters, and every valid answer (ascending)."""
    if family in _RANGE_RULES:
        what, rule = _RANGE_RULES[family]
        extra = {k: v for k, v in params.items() if k not in ("low", "high")}
        low, high = params["low"], params["high"]
        inside = [x for x in range(low + 1, high) if rule(x, **extra)]
        return f"Name {what.format(**extra)} between {low} and {high}.", inside
    if family == "digit-sum":
        inside = [x for x in range(10, 100) if x // 10 + x % 10 == params["s"]]
        return f"Name a two-digit number whose digits sum to {params['s']}.", inside
    if family == "digit-product":
        inside = [x for x in range(10, 100) if (x // 10) * (x % 10) == params["p"]]
        return f"Name a two-digit number whose digits multiply to {params['p']}.", inside
    if family == "divisors":
        n = params["n"]
        return f"Name a divisor of {n} other than 1 and {n}.", [d for d in range(2, n) if n % d == 0]
    raise ValueError(f"unknown set family {family!r}")


def _set_params(rng: random.Random) -> tuple[str, dict[str, int]]:
    family = rng.choice(("primes", "multiples", "parity", "squares", "digit-sum", "digit-product", "divisors"))
    if family == "parity":
        family = rng.choice(("even", "odd"))
    if family in _RANGE_RULES:
        top = {"primes": 160, "squares": 150}.get(family, 300)
        low = rng.randint(1, top)
        params = {"low": low, "high": low + rng.randint(4, 60)}
        if family == "multiples":
            params["m"] = rng.randint(3, 13)
        return family, params
    if family == "digit-sum":
        return family, {"s": rng.randint(3, 17)}
    if family == "digit-product":
        return family, {"p": rng.randint(4, 40)}
    return family, {"n": rng.randint(12, 400)}


def make_set_question(rng: random.Random) -> Made:
    """One 'name a member of this small set' question with every valid answer."""
    while True:
        family, params = _set_params(rng)
        if family in _RANGE_RULES:  # endpoints that are themselves valid would make 'between' ambiguous
            _, rule = _RANGE_RULES[family]
            extra = {k: v for k, v in params.items() if k not in ("low", "high")}
            if rule(params["low"], **extra) or rule(params["high"], **extra):
                continue
        question, inside = set_question(family, **params)
        if MIN_ANSWERS <= len(inside) <= MAX_ANSWERS:
            return question, [str(x) for x in inside], {"family": family, **params}


# ---------------------------------------------------------------------------- hidden draws

# (setting with {items}, question, item kind, singular -> plural); every item name is one word
_DRAW_FAMILIES = (
    (
        "A bag holds {items} marbles. One marble is drawn at random.",
        "What colour is it?",
        "marble",
        {c: c for c in "red blue green yellow black white orange purple pink brown".split()},
    ),
    (
        "A spinner has {total} equal sections: {items}. It is spun once.",
        "Which animal does it land on?",
        "",
        {a: a + "s" for a in "cat dog bird fish horse rabbit frog bear lion goat".split()},
    ),
    (
        "A basket holds {items}. One fruit is taken at random.",
        "Which fruit is it?",
        "",
        {"apple": "apples", "pear": "pears", "plum": "plums", "orange": "oranges", "banana": "bananas",
         "peach": "peaches", "lemon": "lemons", "mango": "mangoes", "cherry": "cherries", "kiwi": "kiwis"},
    ),
    (
        "A box holds {total} cards: {items}. One card is picked at random.",
        "Which letter is on it?",
        "",
        {letter: letter for letter in "ABCDEFGHJK"},
    ),
)


def _listing(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def draw(probabilities: dict[str, float], rng: random.Random) -> str:
    """One item drawn from `probabilities` (in insertion order, by inverse CDF)."""
    u, total = rng.random(), 0.0
    for item, p in probabilities.items():
        total += p
        if u < total:
            return item
    return item  # rounding left u >= the sum: the last item


def fixed_draws(probabilities: dict[str, float], n: int, key: str) -> list[str]:
    """`n` independent draws from `probabilities`, fixed by the string `key` (the same on every run and machine)."""
    rng = random.Random(key)
    return [draw(probabilities, rng) for _ in range(n)]


def make_draw_question(rng: random.Random) -> Made:
    """A stated distribution over 2-4 items and one hidden draw from it."""
    family = rng.randrange(len(_DRAW_FAMILIES))
    setting, question, noun, names = _DRAW_FAMILIES[family]
    items = rng.sample(sorted(names), rng.randint(2, 4))
    counts = {item: rng.randint(1, 9) for item in items}
    total = sum(counts.values())
    if family == 0:
        parts = [f"{n} {item}" for item, n in counts.items()]
    elif family == 1:
        parts = [f"1 shows a {item}" if n == 1 else f"{n} show {names[item]}" for item, n in counts.items()]
    elif family == 2:
        parts = [f"{n} {item if n == 1 else names[item]}" for item, n in counts.items()]
    else:
        parts = [f"{n} marked {item}" for item, n in counts.items()]
    text = f"{setting.format(items=_listing(parts), total=total)} {question}"
    probabilities = {item: n / total for item, n in counts.items()}
    gold = draw(probabilities, rng)
    aliases = [gold, names[gold]] + ([f"{gold} {noun}"] if noun else [])
    meta = {"family": ("marbles", "spinner", "fruit", "cards")[family], "counts": counts, "probabilities": probabilities}
    return text, [list(dict.fromkeys(aliases))], meta


# ---------------------------------------------------------------------------- registry


def make_mixed_question(rng: random.Random) -> Made:
    """Half answer-set questions, half hidden draws."""
    return (make_set_question if rng.random() < 0.5 else make_draw_question)(rng)


# name -> (description, question maker, the instruction the system prompt adds)
PROCEDURAL_TASKS: dict[str, tuple[str, Callable[[random.Random], Made], str]] = {
    "procedural-sets": (
        "name a member of a small number set (primes, multiples, divisors, ...); gold = the whole set",
        make_set_question,
        "Each answer is a single whole number written in digits.",
    ),
    "procedural-draws": (
        "guess one random draw from stated odds (irreducible uncertainty; true probabilities in metadata)",
        make_draw_question,
        "Each answer is one item name from the question, in one word.",
    ),
    "procedural-mix": (  # what the demo trains on
        "procedural-sets and procedural-draws questions, half and half",
        make_mixed_question,
        "Each answer is a whole number in digits, or one item name from the question in one word.",
    ),
}


def procedural(name: str, seed: int = 0, n_train: int = 20000, n_test: int = 500) -> Task:
    """The procedural task `name` (a key of PROCEDURAL_TASKS) with its own seed and sizes."""
    description, maker, instruction = PROCEDURAL_TASKS[name]
    return procedural_task(name, description, maker, instruction, seed, n_train, n_test)


def procedural_sets(seed: int = 0, n_train: int = 20000, n_test: int = 500) -> Task:
    """Questions with several valid answers (primes, multiples, digit sums, ...), exact gold by enumeration."""
    return procedural("procedural-sets", seed, n_train, n_test)


def procedural_draws(seed: int = 0, n_train: int = 20000, n_test: int = 500) -> Task:
    """Questions whose gold is one hidden draw from stated odds; the calibrated optimum is known."""
    return procedural("procedural-draws", seed, n_train, n_test)


for _name in PROCEDURAL_TASKS:
    register_task(_name, lambda name=_name: procedural(name))
