from collections import Counter

import pytest

from multianswer.demo.pretraining import DemoWarmupArgs, warmup_pairs
from multianswer.core.formats import AnswerFormat, parse_completion
from multianswer.tasks import get_task


def _format_of(system: str) -> tuple[AnswerFormat, int]:
    multi = "DISTINCT" in system
    conf = "<confidence" in system
    fmt = {(False, False): "single", (False, True): "single-conf", (True, False): "multi", (True, True): "multi-conf"}[(multi, conf)]
    return AnswerFormat(fmt), 3 if multi else 1


def test_every_target_parses_in_the_format_its_prompt_asks_for():
    tasks = [get_task("procedural-sets"), get_task("procedural-draws")]
    pairs = warmup_pairs(tasks, 200, DemoWarmupArgs(k=3, seed=1))
    seen = Counter()
    for messages, target in pairs:
        fmt, k = _format_of(messages[0]["content"])
        parsed = parse_completion(target, fmt, k)
        assert parsed.format_ok, (target, parsed.reason)
        if fmt.has_confidence:
            assert sum(parsed.confidences) <= 1.0 + 1e-9
        seen[fmt] += 1
    assert set(seen) == set(AnswerFormat)  # all four formats are taught


def test_single_answers_to_draws_follow_the_stated_odds():
    # one draw question, answered many times in the single format: the warm-up data should put
    # about as much mass on each item as the question states (that is what rlvr later collapses)
    task = get_task("procedural-draws")
    example = task.examples("train", 1)[0]
    args = DemoWarmupArgs(wrong_rate=0.0, duplicate_rate=0.0)
    from random import Random

    from multianswer.demo.pretraining import warmup_completion

    rng = Random(0)
    counts = Counter(parse_completion(warmup_completion(example, AnswerFormat.SINGLE, 1, args, rng), "single").answers[0]
                     for _ in range(4000))
    for item, p in example.metadata["probabilities"].items():
        assert abs(counts[item] / 4000 - p) < 0.03


def test_world_warmup_targets_are_fixed_by_the_seed():
    # the drawn answer sets are the same on every run with one seed, and another seed draws others
    tasks = [get_task("world-sets"), get_task("world-cases")]
    first = warmup_pairs(tasks, 60, DemoWarmupArgs(k=3, seed=4))
    assert first == warmup_pairs(tasks, 60, DemoWarmupArgs(k=3, seed=4))
    assert first != warmup_pairs(tasks, 60, DemoWarmupArgs(k=3, seed=5))


def test_an_overconfidence_spread_varies_the_stated_confidence_of_the_same_answer():
    # one draw question in the single-conf format: its one answer's stated confidence depends only on the
    # answer without a spread, and takes several levels with one (what a GRPO group needs to compare)
    from random import Random

    from multianswer.demo.pretraining import warmup_completion

    example = get_task("procedural-draws").examples("train", 1)[0]
    top = max(example.metadata["probabilities"], key=example.metadata["probabilities"].get)

    def stated(spread: float) -> set[float]:
        args, rng = DemoWarmupArgs(overconfidence_spread=spread, wrong_rate=0.0, duplicate_rate=0.0), Random(0)
        parsed = [parse_completion(warmup_completion(example, AnswerFormat.SINGLE_CONF, 1, args, rng), "single-conf")
                  for _ in range(300)]
        return {p.confidences[0] for p in parsed if p.answers[0] == top}

    assert len(stated(0.0)) == 1
    assert len(stated(1.0)) >= 10


def test_task_shares_set_each_task_s_share_of_the_examples_on_a_fixed_schedule():
    tasks = [get_task("world-sets"), get_task("world-cases")]
    kind = lambda pairs: ["cases" if "patient" in m[1]["content"] else "sets" for m, _ in pairs]  # noqa: E731
    assert kind(warmup_pairs(tasks, 6, DemoWarmupArgs(k=3, seed=0))) == ["sets", "cases"] * 3  # no shares: turns
    shared = kind(warmup_pairs(tasks, 10, DemoWarmupArgs(k=3, seed=0, task_shares=(0.7, 0.3))))
    assert shared.count("sets") == 7 and shared.count("cases") == 3
    # spread out, not bunched: every run of 4 examples holds at least one of each kind
    assert all({"sets", "cases"} <= set(shared[i:i + 4]) for i in range(len(shared) - 3))


def test_task_shares_must_match_the_tasks():
    with pytest.raises(ValueError, match="1 shares for 2 tasks"):
        warmup_pairs([get_task("world-sets"), get_task("world-cases")], 4, DemoWarmupArgs(task_shares=(1.0,)))
