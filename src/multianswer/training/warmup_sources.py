"""The format warm-up of a training run: its targets from the configured source, then the supervised steps.

Source 'own' (training/warmup_args.py): before the warm-up the model answers each warm-up
question plainly n times (generation/plain.py); the answers are grouped (two spellings that the
rewards count as one answer are one answer) and counted, and a target holds:

    single, single-conf  one answer drawn uniformly from the samples that gave one (the model's own
                         distribution), with its sample frequency
    multi, multi-conf    the K most frequent distinct answers, most frequent first, each in its most
                         common spelling, with their sample frequencies

A frequency is count / n over all n samples (a reply without an answer counts in n), rounded down
to two decimals, so the confidences sum to at most 1. A question whose samples hold fewer than K
distinct answers gets no K-answer target: the format needs exactly K distinct answers, and filling
the rest would mean inventing answers or borrowing other questions'. Gold answers only score the
samples for the statistics (`own_stats`); they never choose or enter a target.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from multianswer.core.errors import UserError
from multianswer.core.formats import AnswerFormat, RuledFormat, as_format, format_completion
from multianswer.core.matching import answer_keys, get_verifier, has_duplicates
from multianswer.core.metrics import mean, pass_at_k
from multianswer.generation.base import Backend, SamplingArgs, derive_seed
from multianswer.generation.plain import ask_plainly, extract_answer
from multianswer.training.format_warmup import THINK
from multianswer.training.warmup_args import WarmupArgs

STATS_FILE = "warmup.json"


# ---------------------------------------------------------------------------- targets (pure)


def answer_groups(answers: Sequence[str]) -> tuple[list[tuple[str, int]], list[int | None]]:
    """Distinct answers as (most common spelling, count) in first-seen order, and each answer's group (None: no answer)."""
    keys: list[set[str]] = []
    spellings: list[Counter] = []
    member: list[int | None] = []
    for answer in answers:
        own = answer_keys(answer)
        if not own:  # '' (no answer in the reply) or punctuation alone
            member.append(None)
            continue
        g = next((i for i, k in enumerate(keys) if not k.isdisjoint(own)), None)
        if g is None:
            g = len(keys)
            keys.append(set())
            spellings.append(Counter())
        keys[g] |= own
        spellings[g][answer] += 1
        member.append(g)
    # Counter.most_common keeps first-seen order among equal counts
    return [(s.most_common(1)[0][0], sum(s.values())) for s in spellings], member


def frequency(count: int, n: int) -> float:
    """count / n rounded down to two decimals (integer arithmetic: a sum of these never passes 1)."""
    return (100 * count // n) / 100


def own_target(answers: Sequence[str], n: int, fmt: AnswerFormat | RuledFormat | str, k: int,
               rng: random.Random) -> str | None:
    """A target completion in `fmt` from one question's n extracted answers ('' = none); None when none can be written."""
    fmt = as_format(fmt)
    groups, member = answer_groups(answers)
    if fmt.is_multi:
        chosen = sorted(groups, key=lambda g: -g[1])[:k]  # a stable sort: equal counts stay in first-seen order
        if len(chosen) < k or has_duplicates([a for a, _ in chosen]):
            return None
    else:
        given = [g for g in member if g is not None]
        if not given:
            return None
        chosen = [groups[rng.choice(given)]]
    confidences = [frequency(c, n) for _, c in chosen] if fmt.has_confidence else None
    return format_completion([a for a, _ in chosen], fmt, confidences, think=THINK[fmt.is_multi])


def own_rows(dataset: Sequence[Mapping], answers: Sequence[Sequence[str]], fmt: AnswerFormat | RuledFormat | str,
             k: int, seed: int = 0) -> list[tuple[list[dict], str]]:
    """(prompt messages, target) pairs for the rows whose own answers make a target (answers[i]: row i's n answers)."""
    rng = random.Random(seed)
    rows = []
    for row, got in zip(dataset, answers):
        target = own_target(got, len(got), fmt, k, rng)
        if target is not None:
            rows.append((row["prompt"], target))
    return rows


def own_stats(dataset: Sequence[Mapping], answers: Sequence[Sequence[str]], k: int) -> dict[str, Any]:
    """What the plain samples show: share with an answer, distinct answers, plain pass@1 and pass@K against the golds."""
    answered, distinct, at_1, at_k = [], [], [], []
    for row, got in zip(dataset, answers):
        n, given = len(got), [a for a in got if answer_keys(a)]
        correct = sum(get_verifier(row.get("verifier"))(given, row["answers"])) if given else 0
        answered.append(len(given) / n)
        distinct.append(float(len(answer_groups(got)[0])))
        at_1.append(pass_at_k(n, correct, 1))
        at_k.append(pass_at_k(n, correct, k) if n >= k else None)
    return {"questions": len(answers), "samples": len(answers[0]) if answers else 0, "answered": mean(answered),
            "distinct_answers": mean(distinct), "plain_pass@1": mean(at_1),
            f"plain_pass@{k}": mean([v for v in at_k if v is not None]) if any(v is not None for v in at_k) else None}


# ---------------------------------------------------------------------------- sampling


def sample_own_answers(backend: Backend, problems: Sequence[str], w: WarmupArgs, seed: int) -> list[list[str]]:
    """The answers the model gives when asked each problem plainly, `format_warmup_samples` times ('' = none in a reply)."""
    sampling = SamplingArgs(w.format_warmup_samples, w.format_warmup_temperature, 1.0, w.format_warmup_max_new_tokens)
    seeds = [derive_seed(seed, "own-warmup", p) for p in problems]  # a question's samples do not depend on the others
    replies = ask_plainly(backend, problems, sampling, seeds, w.format_warmup_instruction)
    return [[extract_answer(c.text, p) for c in completions] for p, completions in zip(problems, replies)]


def own_warmup_rows(backend: Backend, dataset: Sequence[Mapping], problems: Mapping[str, str],
                    fmt: AnswerFormat | RuledFormat | str, k: int, w: WarmupArgs, seed: int,
                    questions: int) -> tuple[list[tuple[list[dict], str]], dict[str, Any]]:
    """Warm-up rows from the model's own answers to `questions` rows drawn from `dataset`, and their statistics."""
    if any(row.get("verifier") == "code" for row in dataset):
        raise UserError("format_warmup_source own: not available for code tasks (a program is not a plain answer)")
    fmt = as_format(fmt)
    rng = random.Random(seed)
    picked = [dataset[i] for i in sorted(rng.sample(range(len(dataset)), min(questions, len(dataset))))]
    answers = sample_own_answers(backend, [problems[row["id"]] for row in picked], w, seed)
    rows = own_rows(picked, answers, fmt, k, seed)
    stats = own_stats(picked, answers, k) | {"targets": len(rows)}
    if not rows:
        need = f"{fmt.answers_per_completion(k)} distinct answers" if fmt.is_multi else "an answer"
        raise UserError(f"format_warmup_source own: no warm-up question got {need} from the model's "
                        f"{w.format_warmup_samples} plain samples; raise format_warmup_samples or "
                        "format_warmup_temperature, or use format_warmup_source: borrowed")
    return rows, stats


# ---------------------------------------------------------------------------- the warm-up of a run


def warm_up(cfg, model, tokenizer, dataset, peft_config, seed: int) -> tuple[Any, dict[str, Any] | None]:
    """Teach the format with supervised steps (on the LoRA adapter when there is one); the model and the source's statistics."""
    import torch
    from transformers import set_seed

    from multianswer.core.rewards import METHOD_FORMATS
    from multianswer.training.format_warmup import format_warmup, warmup_rows

    set_seed(seed)
    fmt, w, k = METHOD_FORMATS[cfg.method.method], cfg.warmup, cfg.method.k
    stats = {"source": w.format_warmup_source, "steps": w.format_warmup_steps}
    model.to("cuda" if torch.cuda.is_available() and not cfg.grpo.get("use_cpu") else "cpu")
    if w.format_warmup_source == "own":  # asked before the adapter exists: the model as it was loaded
        from multianswer.generation.hf import HFBackend
        from multianswer.tasks import get_task

        problems = {ex.id: ex.problem for ex in get_task(cfg.data.task).examples(cfg.data.split, cfg.data.limit)}
        # the warm-up reads at most steps x batch size rows: only those questions are asked
        limit = w.format_warmup_steps * w.format_warmup_batch_size
        rows, own = own_warmup_rows(HFBackend(model, tokenizer, batch_size=32, progress=False), dataset, problems,
                                    fmt, k, w, seed, limit)
        stats |= own
        print(f"format warm-up from the model's own answers: {own['targets']} of {own['questions']} questions have a "
              f"target; plain pass@1 {own['plain_pass@1']:.3f} over {w.format_warmup_samples} samples each")
    else:
        rows = warmup_rows(dataset, fmt, k, seed)
    if peft_config is not None:
        from peft import get_peft_model

        model = get_peft_model(model, peft_config)
    losses = format_warmup(model, tokenizer, rows, w.format_warmup_steps, w.format_warmup_lr, w.format_warmup_batch_size,
                           seed, learn_answers=w.format_warmup_learn_answers)
    print(f"format warm-up: {len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    return model, stats | {"loss_first": losses[0], "loss_last": losses[-1]}


def write_stats(folder: str | Path, stats: dict[str, Any]) -> None:
    """Write the warm-up's statistics to FOLDER/warmup.json (read back for the model card)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n")


def read_stats(folder: str | Path) -> dict[str, Any] | None:
    """The warm-up statistics in FOLDER/warmup.json, or None (no warm-up, or a run from before this file)."""
    path = Path(folder) / STATS_FILE
    return json.loads(path.read_text()) if path.is_file() else None
