import itertools
import math
import random
from collections import Counter

import pytest

from multianswer.core.formats import AnswerFormat, parse_completion
from multianswer.core.matching import get_verifier
from multianswer.demo.pretraining import DemoWarmupArgs, stated_confidences, warmup_completion
from multianswer.tasks import get_task
from multianswer.tasks.world import ILLNESSES, QUESTIONS, case_distribution, knowledge, symptom_weights

MATCH = get_verifier("match")


def test_every_world_task_is_registered_with_disjoint_splits():
    sizes = {name: get_task(name).sizes() for name in ("world-sets", "world-cases", "world-mix")}
    assert sizes["world-sets"] == {"pretrain": 120, "train": 60, "test": 60}  # 30 creatures x 4 questions
    assert sizes["world-cases"] == {"test": 100, "pretrain": 2400, "train": 2400}
    assert sizes["world-mix"] == {"pretrain": 4800, "train": 4800, "test": 120}
    sets = get_task("world-sets")
    train, test = ({e.problem for e in sets.examples(s)} for s in ("train", "test"))
    assert not train & test and len(train | test) == 120
    assert {e.problem for e in sets.examples("pretrain")} == train | test  # pre-training knows every fact


def test_held_out_cases_are_symptom_triples_never_shown_before():
    cases = get_task("world-cases")
    seen = {tuple(e.metadata["symptoms"]) for s in ("pretrain", "train") for e in cases.examples(s)}
    held_out = [tuple(e.metadata["symptoms"]) for e in cases.examples("test")]
    assert len(set(held_out)) == 100 and not seen & set(held_out)
    assert len(seen) == 120  # C(12, 3) = 220 triples in all


def test_the_world_is_the_same_on_every_load():
    first = [(e.id, e.problem, e.answers) for e in get_task("world-mix").examples("test")]
    second = [(e.id, e.problem, e.answers) for e in get_task("world-mix").examples("test")]
    assert first == second and len({i for i, _, _ in first}) == 120
    kinds = Counter(e.id.split("-")[1] for e in get_task("world-mix").examples("train"))
    assert kinds == {"mix": 4800}
    train = get_task("world-mix").examples("train")
    assert sum("patient" in e.problem for e in train) == 2400  # half sets, half cases


def test_set_knowledge_is_uneven_and_in_its_vocabulary():
    for (creature, template), weights in knowledge().items():
        assert 3 <= len(weights) <= 5 and set(weights) <= set(QUESTIONS[template])
        assert sum(weights.values()) == pytest.approx(1.0)
        values = list(weights.values())
        assert values[0] == pytest.approx(2 * values[1])  # Zipf: the first twice as likely as the second


def test_creatures_fall_into_clans_that_share_every_answer_set():
    from multianswer.tasks.world import CLANS, CREATURES

    facts = knowledge()
    signature = {c: tuple(tuple(facts[(c, t)]) for t in QUESTIONS) for c in CREATURES}
    clans = Counter(signature.values())
    assert len(clans) == CLANS and set(clans.values()) == {len(CREATURES) // CLANS}


def test_case_distribution_by_hand():
    w = symptom_weights()
    triple = ("cough", "rash", "fever")
    logits = {d: sum(w[s].get(d, 0.0) for s in triple) for d in ILLNESSES}
    z = sum(math.exp(v) for v in logits.values())
    expected = {d: math.exp(v) / z for d, v in logits.items()}
    assert case_distribution(triple) == pytest.approx(expected)
    assert case_distribution(("rash", "fever", "cough")) == pytest.approx(expected)  # order does not matter
    # a single symptom by hand: weights 2.0, 1.2, 0.6 on three illnesses, 0 on the other five
    one = case_distribution(("cough",))
    z1 = math.exp(2.0) + math.exp(1.2) + math.exp(0.6) + 5
    assert sorted(one.values(), reverse=True)[:3] == pytest.approx([math.exp(2.0) / z1, math.exp(1.2) / z1, math.exp(0.6) / z1])


def test_case_golds_are_draws_that_follow_the_true_distribution():
    # across the 20 draws of each training triple, the drawn labels follow the stated probabilities
    cases = get_task("world-cases").examples("train")
    expected = sum(max(e.metadata["probabilities"].values()) for e in cases) / len(cases)
    hits = sum(e.answers[0] == max(e.metadata["probabilities"], key=e.metadata["probabilities"].get) for e in cases)
    assert abs(hits / len(cases) - expected) < 0.03


def test_training_cases_carry_every_label_drawn_for_their_triple():
    from multianswer.tasks import to_grpo_dataset

    train = get_task("world-cases").examples("train")
    by_triple: dict = {}
    for e in train:
        by_triple.setdefault(tuple(e.metadata["symptoms"]), []).append(e.answers)
    for e in train[:50]:
        own = by_triple[tuple(e.metadata["symptoms"])]
        assert e.label_draws == own and len(own) == 20 and e.answers in own  # the same labels, grouped
    assert not any(e.label_draws for s in ("pretrain", "test") for e in get_task("world-cases").examples(s))
    assert "label_draws" not in to_grpo_dataset(get_task("world-mix"), "train", "multi-conf", 3, limit=4).column_names
    mix = to_grpo_dataset(get_task("world-mix"), "train", "multi-conf", 3, limit=4, label_draws=True)
    assert [len(d) for d in mix["label_draws"]] == [0, 20, 0, 20]  # sets, cases, sets, cases
    assert mix["answers"][1] in mix["label_draws"][1]  # a row's own label is one of its draws
    assert "label_draws" not in to_grpo_dataset(get_task("world-sets"), "train", "multi", 3, limit=4, label_draws=True).column_names


def test_warmup_answers_follow_the_weights_and_confidences_are_overconfident():
    example = get_task("world-sets").examples("test", 1)[0]
    args = DemoWarmupArgs(wrong_rate=0.0, duplicate_rate=0.0)
    rng = random.Random(0)
    counts = Counter(parse_completion(warmup_completion(example, AnswerFormat.SINGLE, 1, args, rng), "single").answers[0]
                     for _ in range(3000))
    for answer, weight in example.metadata["weights"].items():
        assert abs(counts[answer] / 3000 - weight) < 0.03
    assert all(MATCH([a], example.answers)[0] for a in counts)
    # weights .6/.3/.1 squared and renormalised: .36/.46, .09/.46, .01/.46 -> 0.8, 0.2, 0.0
    fake = type(example)("x", "q", ["a", "b", "c"], metadata={"weights": {"a": 0.6, "b": 0.3, "c": 0.1}})
    assert stated_confidences(fake, ["a", "b", "c"], 3, 2.0, rng, decimals=1) == [0.8, 0.2, 0.0]
    assert stated_confidences(fake, ["a", "b", "a"], 3, 2.0, rng, decimals=1) == [0.8, 0.2, 0.0]  # a repeat states nothing
    even = type(example)("y", "q", ["a", "b"], metadata={"weights": {"a": 0.5, "b": 0.5}})
    assert sum(stated_confidences(even, ["a", "b"], 2, 1.0, rng)) <= 1.0  # 0.5 + 0.5 stays within 1
    # two decimals: .36/.46 = .7826 -> .78, .09/.46 = .1957 -> .2, .01/.46 = .0217 -> .02
    assert stated_confidences(fake, ["a", "b", "c"], 3, 2.0, rng, decimals=2) == [0.78, 0.2, 0.02]
    thirds = type(example)("z", "q", ["a", "b", "c"], metadata={"weights": {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}})
    assert stated_confidences(thirds, ["a", "b", "c"], 3, 1.0, rng, decimals=2) == [0.33, 0.33, 0.33]


def _first_two_three(p: dict[str, float], a: str, b: str, c: str) -> float:
    """Chance that three draws by weight without replacement come out a, b, c in that order."""
    return p[a] * p[b] / (1 - p[a]) * p[c] / (1 - p[a] - p[b])


def test_warmup_answer_sets_are_k_draws_by_weight_not_the_top_k():
    # asked for 3, the warm-up writes 3 distinct draws by weight in the order drawn: the first candidate is each
    # illness as often as its true probability, the second as often as a second draw without replacement, and
    # the set is the true top 3 only as often as three draws give exactly those three
    example = get_task("world-cases").examples("test", 1)[0]
    p = example.metadata["probabilities"]
    args = DemoWarmupArgs(wrong_rate=0.0, duplicate_rate=0.0)
    rng = random.Random(0)
    n = 4000
    sets = [parse_completion(warmup_completion(example, AnswerFormat.MULTI, 3, args, rng), "multi", 3).answers for _ in range(n)]
    assert all(len(set(answers)) == 3 for answers in sets)
    first, second = Counter(s[0] for s in sets), Counter(s[1] for s in sets)
    for d in p:
        assert abs(first[d] / n - p[d]) < 0.03
        assert abs(second[d] / n - sum(p[a] * p[d] / (1 - p[a]) for a in p if a != d)) < 0.03
    top3 = sorted(p, key=p.get, reverse=True)[:3]
    in_order = sum(list(s) == top3 for s in sets) / n
    as_a_set = sum(set(s) == set(top3) for s in sets) / n
    assert abs(in_order - _first_two_three(p, *top3)) < 0.03
    assert abs(as_a_set - sum(_first_two_three(p, *order) for order in itertools.permutations(top3))) < 0.03
    assert as_a_set < 0.8  # not always the top 3 (it was, in every target, before)


def test_warmup_confidences_follow_the_drawn_candidates():
    # each candidate states its own overconfident figure (its squared probability, renormalised, two decimals)
    # wherever it was drawn, so the sets are not ranked by confidence; the sum stays within 1
    example = get_task("world-cases").examples("test", 1)[0]
    p = example.metadata["probabilities"]
    total = sum(v**2 for v in p.values())
    args = DemoWarmupArgs(wrong_rate=0.0, duplicate_rate=0.0)
    rng = random.Random(1)
    parsed = [parse_completion(warmup_completion(example, AnswerFormat.MULTI_CONF, 3, args, rng), "multi-conf", 3)
              for _ in range(300)]
    for got in parsed:
        assert got.format_ok and sum(got.confidences) <= 1.0 + 1e-9
        for answer, confidence in zip(got.answers, got.confidences):
            assert abs(confidence - p[answer] ** 2 / total) <= 0.011  # rounding, or one unit off to keep the sum <= 1
    assert any(list(got.confidences) != sorted(got.confidences, reverse=True) for got in parsed)
    # a repeat in the middle states nothing, and the candidates after it keep their own figures
    fake = type(example)("x", "q", ["a", "b", "c"], metadata={"weights": {"a": 0.6, "b": 0.3, "c": 0.1}})
    assert stated_confidences(fake, ["b", "b", "a"], 3, 2.0, rng, decimals=1) == [0.2, 0.0, 0.8]
