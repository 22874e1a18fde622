import random
import re
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from multianswer.core.matching import get_verifier
from multianswer.tasks import get_task
from multianswer.tasks.lazy import LazyExamples
from multianswer.tasks.procedural import (
    draw,
    is_test_question,
    procedural_draws,
    procedural_sets,
    set_question,
)

MATCH = get_verifier("match")


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def brute_force(meta: dict) -> list[int]:
    """Every valid answer, recomputed independently of the task code."""
    family = meta["family"]
    if family == "digit-sum":
        return [x for x in range(10, 100) if sum(map(int, str(x))) == meta["s"]]
    if family == "digit-product":
        return [x for x in range(10, 100) if int(str(x)[0]) * int(str(x)[1]) == meta["p"]]
    if family == "divisors":
        return [d for d in range(2, meta["n"]) if meta["n"] % d == 0]
    rule = {
        "primes": _is_prime,
        "multiples": lambda x: x % meta["m"] == 0,
        "even": lambda x: x % 2 == 0,
        "odd": lambda x: x % 2 == 1,
        "squares": lambda x: any(r * r == x for r in range(x + 1)),
    }[family]
    return [x for x in range(meta["low"] + 1, meta["high"]) if rule(x)]


def test_primes_between_20_and_60_by_hand():
    question, gold = set_question("primes", low=20, high=60)
    assert question == "Name a prime number between 20 and 60."
    assert gold == [23, 29, 31, 37, 41, 43, 47, 53, 59]
    answers = [str(x) for x in gold]
    assert MATCH(["23", " 59 ", "41.0", "31"], answers) == [True, True, True, True]
    # 19 and 61 are primes just outside; 21, 49, 57 are inside but not prime; 60 is an endpoint
    assert MATCH(["19", "61", "21", "49", "57", "60", "2"], answers) == [False] * 7


def test_other_families_by_hand():
    assert set_question("multiples", m=7, low=30, high=80) == (
        "Name a multiple of 7 between 30 and 80.", [35, 42, 49, 56, 63, 70, 77])
    assert set_question("digit-sum", s=9)[1] == [18, 27, 36, 45, 54, 63, 72, 81, 90]
    assert set_question("divisors", n=36)[1] == [2, 3, 4, 6, 9, 12, 18]
    assert set_question("squares", low=10, high=50)[1] == [16, 25, 36, 49]
    assert set_question("digit-product", p=12)[1] == [26, 34, 43, 62]


def test_set_gold_is_exact_for_generated_examples():
    task = procedural_sets()
    examples = task.examples("train", limit=400) + task.examples("test")
    assert {e.metadata["family"] for e in examples} >= {"primes", "multiples", "squares", "divisors"}
    for example in examples:
        valid = brute_force(example.metadata)
        assert example.answers == [str(x) for x in valid], example.problem
        assert 3 <= len(valid) <= 12
        assert all(MATCH([str(x) for x in valid], example.answers))
        # near misses: out-of-range numbers of the right kind, endpoints, in-range numbers of the wrong kind
        meta = example.metadata
        if "low" in meta:
            wrong_inside = [x for x in range(meta["low"] + 1, meta["high"]) if x not in valid]
            near = [meta["low"], meta["high"], meta["low"] - 1, meta["high"] + 1] + wrong_inside
        else:
            near = [x for x in range(1, 120) if x not in valid]
        near = [x for x in near if x not in valid]
        assert not any(MATCH([str(x) for x in near], example.answers)), example.problem


def test_sets_are_seeded_and_reproducible():
    first, again, other = procedural_sets(seed=1), procedural_sets(seed=1), procedural_sets(seed=2)
    assert first.examples("train", limit=50) == again.examples("train", limit=50)
    assert first.examples("test") == again.examples("test")
    assert first.examples("train", limit=50) != other.examples("train", limit=50)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_train_and_test_questions_never_overlap(seed):
    for factory in (procedural_sets, procedural_draws):
        task = factory(seed=seed, n_train=2000, n_test=200)
        train = {e.problem for e in task.examples("train")}
        test = [e.problem for e in task.examples("test")]
        assert len(test) == 200 and len(set(test)) == 200
        assert not train & set(test)
        assert all(is_test_question(q) for q in test) and not any(is_test_question(q) for q in train)


def test_full_default_splits_do_not_overlap():
    task = get_task("procedural-sets")
    train = task.load("train")
    assert isinstance(train, LazyExamples) and len(train) == 20000
    assert len(task.examples("test")) == 500
    assert not {e.problem for e in train} & {e.problem for e in task.examples("test")}
    assert train[-1].id == "procedural-sets-train-19999" and train[5] == task.examples("train", limit=6)[5]


def test_draw_question_by_hand():
    task = procedural_draws()
    marbles = next(e for e in task.examples("train", limit=200) if e.metadata["family"] == "marbles")
    counts = marbles.metadata["counts"]
    stated = dict((colour, int(n)) for n, colour in re.findall(r"(\d+) (\w+)", marbles.problem.split(" marbles")[0]))
    assert stated == counts
    total = sum(counts.values())
    assert marbles.metadata["probabilities"] == {c: n / total for c, n in counts.items()}
    drawn = marbles.answers[0][0]
    assert drawn in counts and marbles.answers == [[drawn, f"{drawn} marble"]]


def test_draw_verifier_accepts_the_draw_and_rejects_everything_else():
    for example in procedural_draws().examples("test"):
        items = example.metadata["probabilities"]
        drawn = example.answers[0][0]
        assert MATCH([drawn, drawn.upper(), f" {drawn}."], example.answers) == [True, True, True]
        if example.metadata["family"] != "cards":  # 'the A' would read as two articles
            assert MATCH([f"the {drawn}"], example.answers) == [True]
        others = [item for item in items if item != drawn]
        absent = "purple" if "purple" not in items else "grey"
        assert MATCH(others + [absent], example.answers) == [False] * (len(others) + 1)


def test_draw_frequencies_match_a_stated_distribution():
    probabilities = {"red": 0.5, "blue": 0.3, "green": 0.2}
    n = 20000
    counts = Counter(draw(probabilities, random.Random(f"check/{i}")) for i in range(n))
    for item, p in probabilities.items():
        assert abs(counts[item] / n - p) < 0.02


def test_hidden_draws_are_calibrated_across_examples():
    """Over many examples (many seeds), an item stated at probability p is the gold about p of the time."""
    pairs = []  # (stated probability, was drawn)
    for example in procedural_draws().examples("train", limit=6000):
        drawn = example.answers[0][0]
        pairs += [(p, item == drawn) for item, p in example.metadata["probabilities"].items()]
    for low, high in [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 1.0)]:
        chosen = [(p, hit) for p, hit in pairs if low <= p < high]
        assert len(chosen) > 300
        mean_p = sum(p for p, _ in chosen) / len(chosen)
        freq = sum(hit for _, hit in chosen) / len(chosen)
        assert abs(freq - mean_p) < 0.04, (low, high, freq, mean_p)
