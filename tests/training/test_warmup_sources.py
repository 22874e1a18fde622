"""The 'own' warm-up source: the model's plain answers, counted and written in the method's format; never a gold."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multianswer.core.errors import UserError
from multianswer.core.formats import AnswerFormat, chat_messages, format_completion, parse_completion
from multianswer.core.matching import get_verifier, has_duplicates, same_answer
from multianswer.generation.base import BackendBase, Completion
from multianswer.training.format_warmup import THINK
from multianswer.training.warmup_args import WarmupArgs
from multianswer.training.warmup_sources import (
    answer_groups, frequency, own_rows, own_stats, own_target, own_warmup_rows, read_stats, write_stats,
)

MC, MULTI, SINGLE, SC = "multi-conf", "multi", "single", "single-conf"
PERU = ["Lima", "lima", "Cusco", "Lima.", "", "Arequipa", "Cusco", "Lima"]  # 8 samples, one without an answer


def test_spellings_of_one_answer_are_one_group_in_its_most_common_spelling():
    groups, member = answer_groups(PERU)
    assert groups == [("Lima", 4), ("Cusco", 2), ("Arequipa", 1)]
    assert member == [0, 0, 1, 0, None, 2, 1, 0]
    assert answer_groups(["", "...", "  "]) == ([], [None, None, None])


def test_multi_targets_hold_the_k_most_frequent_answers_with_their_frequencies():
    rng = random.Random(0)
    assert own_target(PERU, 8, MC, 3, rng) == format_completion(
        ["Lima", "Cusco", "Arequipa"], MC, [0.5, 0.25, 0.12], think=THINK[True])  # 1/8 rounds down to 0.12
    assert own_target(PERU, 8, MULTI, 2, rng) == format_completion(["Lima", "Cusco"], MULTI, think=THINK[True])
    # fewer distinct answers than K: no target (nothing is invented or borrowed to fill it)
    assert own_target(PERU, 8, MC, 4, rng) is None and own_target(["", ""], 2, SINGLE, 1, rng) is None


def test_single_targets_draw_one_answer_by_the_models_own_frequencies():
    rng = random.Random(0)
    drawn = [parse_completion(own_target(PERU, 8, SC, 1, rng), SC) for _ in range(700)]
    share = {a: sum(p.answers[0] == a for p in drawn) / len(drawn) for a in ("Lima", "Cusco", "Arequipa")}
    assert share["Lima"] == pytest.approx(4 / 7, abs=0.06) and share["Arequipa"] == pytest.approx(1 / 7, abs=0.04)
    assert {p.confidences[0] for p in drawn if p.answers[0] == "Cusco"} == {0.25}
    assert parse_completion(own_target(PERU, 8, SINGLE, 3, rng), SINGLE).format_ok


_ANSWER = st.sampled_from(["Lima", "lima", "LIMA.", "Cusco", "Arequipa", "Trujillo", "Piura", "Iquitos", "", "..."])


@settings(max_examples=300, deadline=None)
@given(answers=st.lists(_ANSWER, min_size=1, max_size=12), fmt=st.sampled_from(list(AnswerFormat)), k=st.integers(1, 4))
def test_every_target_parses_holds_only_sampled_answers_and_confidences_sum_to_at_most_1(answers, fmt, k):
    target = own_target(answers, len(answers), fmt, k, random.Random(0))
    if target is None:
        return
    p = parse_completion(target, fmt, k)
    assert p.format_ok and not has_duplicates(list(p.answers))
    assert all(a in answers for a in p.answers)  # written as the model wrote it
    counts = [sum(same_answer(a, b) for b in answers) for a in p.answers]
    if fmt.is_multi:
        assert counts == sorted(counts, reverse=True)  # most frequent first
    if fmt.has_confidence:
        assert list(p.confidences) == [frequency(c, len(answers)) for c in counts] and sum(p.confidences) <= 1


@given(st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_frequencies_round_down_so_their_sum_never_passes_1(counts):
    n = sum(counts)
    assert sum(frequency(c, n) for c in counts) <= 1.0 and all(frequency(c, n) <= c / n for c in counts)


# ---------------------------------------------------------------------------- with a backend

CITIES = {"Peru": ["Lima", "Arequipa"], "Chile": ["Santiago", "Valparaíso"], "Japan": ["Tokyo", "Osaka"]}
WRONG = {"Peru": ["Cusco", "Piura", "Cusco"], "Chile": ["Temuco", "Arica", "Iquique", "Arica"],
         "Japan": ["Kyoto", "Nara", "Kobe"]}


def _dataset(fmt=MC, k=3):
    return [{"prompt": chat_messages(f"Name a city of {c}.", fmt, k), "answers": [[g] for g in golds], "verifier": "match",
             "id": c} for c, golds in CITIES.items()]


class Replies(BackendBase):
    """A backend that answers each country's question from a list of sentences, in turn."""

    name = "replies"

    def __init__(self, answers):
        self.answers = answers

    def count_tokens(self, text):
        return len(text.split())

    def stream(self, prompts, args, seed=0):
        for i, messages in enumerate(prompts):
            country = messages[-1]["content"].split(" of ")[1].split(".")[0]
            said = self.answers[country]
            yield i, [Completion(f"The city is {said[j % len(said)]}.", 4) for j in range(args.n)]


def _problems():
    return {c: f"Name a city of {c}." for c in CITIES}


def test_a_task_whose_golds_are_never_sampled_gets_no_gold_in_any_target():
    w = WarmupArgs(format_warmup_source="own", format_warmup_samples=6)
    for fmt in AnswerFormat:
        rows, stats = own_warmup_rows(Replies(WRONG), _dataset(fmt), _problems(), fmt, 3, w, seed=0, questions=10)
        assert rows and stats["targets"] == len(rows) and stats["plain_pass@1"] == 0.0
        golds = [g for gs in CITIES.values() for g in gs]
        for _, target in rows:
            answers = parse_completion(target, fmt, 3).answers
            assert not any(get_verifier("match")([a], golds)[0] for a in answers) and not any(g in target for g in golds)


def test_targets_hold_the_models_answers_right_or_wrong_and_stats_score_them():
    said = {"Peru": ["Lima", "Lima", "Cusco", "Piura"], "Chile": ["Temuco", "Arica", "Santiago"], "Japan": ["I am not sure"]}
    w = WarmupArgs(format_warmup_source="own", format_warmup_samples=4)
    rows, stats = own_warmup_rows(Replies(said), _dataset(), _problems(), MC, 3, w, seed=0, questions=10)
    targets = {messages[1]["content"].split(" of ")[1][:5]: parse_completion(t, MC, 3) for messages, t in rows}
    assert list(targets["Peru."].answers) == ["Lima", "Cusco", "Piura"] and targets["Peru."].confidences == (0.5, 0.25, 0.25)
    assert list(targets["Chile"].answers) == ["Temuco", "Arica", "Santiago"]  # first-seen order among equal counts
    assert "Japan" not in str(list(targets))  # no answer in its replies: no target
    # plain pass@1 per question: Peru 2/4, Chile 1/4 (Santiago once in 4), Japan 0; pass@3 from 4 samples
    assert stats["plain_pass@1"] == pytest.approx((0.5 + 0.25 + 0) / 3)
    assert stats["plain_pass@3"] == pytest.approx((1 + 0.75 + 0) / 3)
    assert (stats["questions"], stats["samples"], stats["targets"]) == (3, 4, 2)
    assert stats["answered"] == pytest.approx(2 / 3) and stats["distinct_answers"] == pytest.approx((3 + 3 + 0) / 3)


def test_own_rows_take_the_prompt_of_their_row_and_only_a_few_questions_are_asked():
    dataset = _dataset()
    rows = own_rows(dataset, [WRONG["Chile"], ["", ""], WRONG["Japan"]], MC, 3)
    assert [messages for messages, _ in rows] == [dataset[0]["prompt"], dataset[2]["prompt"]]
    w = WarmupArgs(format_warmup_source="own", format_warmup_samples=3)
    _, stats = own_warmup_rows(Replies(WRONG), dataset, _problems(), MC, 3, w, seed=0, questions=2)
    assert stats["questions"] == 2


def test_no_target_at_all_and_code_tasks_are_user_errors():
    w = WarmupArgs(format_warmup_source="own", format_warmup_samples=2)
    with pytest.raises(UserError, match="no warm-up question got 3 distinct answers"):
        own_warmup_rows(Replies(WRONG), _dataset(), _problems(), MC, 3, w, seed=0, questions=10)
    code = [row | {"verifier": "code"} for row in _dataset()]
    with pytest.raises(UserError, match="not available for code tasks"):
        own_warmup_rows(Replies(WRONG), code, _problems(), MC, 3, w, seed=0, questions=10)
    assert own_stats([], [], 3)["questions"] == 0


def test_stats_file_round_trip(tmp_path):
    assert read_stats(tmp_path) is None
    write_stats(tmp_path / "run", {"source": "own", "plain_pass@1": 0.5})
    assert read_stats(tmp_path / "run") == {"source": "own", "plain_pass@1": 0.5}


def test_the_model_card_shows_the_warmup_statistics():
    from multianswer.training.monitor import model_card

    config = {"model": {"model": "smollm2"}, "method": {"method": "multi-rlcr", "k": 3, "prompt_style": "short"},
              "data": {"task": "country-cities", "split": "train"}, "warmup": {"format_warmup_steps": 6}, "grpo": {}}
    card = model_card(config, [], {}, "LoRA", {"source": "own", "steps": 6, "plain_pass@1": 0.5, "plain_pass@3": None})
    assert "| format warm-up source | own |" in card and "| format warm-up plain_pass@1 | 0.5 |" in card
    assert "| prompt style | short |" in card and "plain_pass@3" not in card
    assert "warm-up source" not in model_card(config, [], {}, "LoRA")


@pytest.mark.slow
def test_a_warmed_base_from_its_own_answers_on_the_tiny_model(tmp_path):
    from multianswer.training.config import load_config
    from multianswer.training.trainer import save_warmed_base

    cfg = load_config(None, ["task=procedural-sets", "model=tiny", "method=rlvr", "format_warmup_source=own",
                             "format_warmup_steps=2", "format_warmup_batch_size=4", "limit=20", "report_to=[]",
                             f"output_dir={tmp_path / 'train'}", "method.prompt_style=short"])
    folder = save_warmed_base(cfg, tmp_path / "base")
    stats = read_stats(folder)
    assert (folder / "config.json").is_file() and stats["source"] == "own" and stats["questions"] == 8
    assert 0 < stats["targets"] <= 8 and stats["samples"] == 8 and stats["loss_last"] > 0
