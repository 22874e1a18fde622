"""Format warm-up for `multianswer train`: supervised steps that teach a small model the format first.

GRPO learns only from reward differences inside a group. A model that never writes the format
(SmolLM2-135M, the random tiny model) gets 0 for every completion and never moves. The warm-up
shows it the format. Here are its steps and the `borrowed` source: candidates drawn from OTHER
examples' gold answers (the task's answer type, almost always wrong for this prompt) and random
confidences, so it learns how to answer, not what (a real LM, though, learns to name them):
correctness and calibration are left to the reinforcement learning that follows. The `own`
source (the model's own plain answers) and the warm-up of a run are in training/warmup_sources.py.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from multianswer.core.errors import UserError
from multianswer.core.formats import AnswerFormat, as_format, format_completion
from multianswer.core.matching import normalize_answer

log = logging.getLogger(__name__)
THINK = {False: "I look for the most likely answer.", True: "I list the most likely answers."}
_ANSWER_TEXT = re.compile(r"<answer\d{0,3}>(.*?)</answer\d{0,3}>", re.DOTALL)


def target_pieces(target: str, learn_answers: bool) -> list[tuple[str, bool]]:
    """(text, learned) pieces of a target; with learn_answers False the text inside answer tags is not learned."""
    if learn_answers:
        return [(target, True)]
    pieces, at = [], 0
    for m in _ANSWER_TEXT.finditer(target):
        pieces += [(target[at:m.start(1)], True), (m.group(1), False)]
        at = m.end(1)
    return [(text, learned) for text, learned in pieces + [(target[at:], True)] if text]


def _confidences(rng: random.Random, k: int) -> list[float]:
    """K random confidences (2 decimals, rounded down) whose sum is uniform-ish in [0.05, 1]."""
    total = rng.uniform(0.05, 1.0)
    raw = [rng.expovariate(1.0) for _ in range(k)]
    return [math.floor(100 * total * r / sum(raw)) / 100 for r in raw]


def warmup_rows(dataset: Sequence[dict], fmt: AnswerFormat | str, k: int, seed: int = 0) -> list[tuple[list[dict], str]]:
    """(prompt messages, target completion) pairs: each target gives K answers taken from other rows' golds."""
    fmt = as_format(fmt)
    k = fmt.answers_per_completion(k)
    rng = random.Random(seed)
    if any(row.get("verifier") == "code" for row in dataset):
        raise UserError("format_warmup_steps: not available for code tasks (their gold answers are unit tests)")
    pool = sorted({str(aliases[0]) for row in dataset for aliases in row["answers"] if aliases})
    rows = []
    for row in dataset:
        gold = {normalize_answer(str(a)) for aliases in row["answers"] for a in aliases}
        others = [a for a in pool if normalize_answer(a) not in gold]
        if len(others) < k:
            continue
        answers = rng.sample(others, k)
        conf = _confidences(rng, k) if fmt.has_confidence else None
        if conf is not None and not fmt.is_multi:
            conf = [round(rng.uniform(0.05, 0.95), 2)]
        rows.append((row["prompt"], format_completion(answers, fmt, conf, think=THINK[fmt.is_multi])))
    if not rows:
        raise UserError("format_warmup_steps: the task has too few distinct answers to build warm-up examples")
    return rows


def format_warmup(model, tokenizer, rows: Sequence[tuple[list[dict], str]], steps: int, lr: float,
                  batch_size: int = 8, seed: int = 0, progress: bool = True, learn_answers: bool = True) -> list[float]:
    """Supervised steps on `rows` (loss on the completion only) over the trainable parameters; the losses.

    With `learn_answers` False the answers' own tokens carry no loss: the model learns the
    format around them and keeps what it knew (a real LM would otherwise learn to name the
    other questions' answers that the warm-up targets hold).
    """
    rng = random.Random(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    # linear warm-up over the first 5 % of steps, then cosine decay: a random init takes a high lr
    warm = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(1, steps)))
    )
    device, pad = next(model.parameters()).device, tokenizer.pad_token_id
    encoded: dict[int, tuple[list[int], list[int]]] = {}  # row -> (ids, labels), built on first use

    def encode(i: int) -> tuple[list[int], list[int]]:
        if i not in encoded:  # prompt and completion tokenised apart, as GRPO sees them
            messages, target = rows[i]
            prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            labels = [-100] * len(ids)  # learn the completion, not the prompt
            for text, learned in target_pieces(target + tokenizer.eos_token, learn_answers):
                piece = tokenizer(text, add_special_tokens=False)["input_ids"]
                ids, labels = ids + piece, labels + (piece if learned else [-100] * len(piece))
            encoded[i] = (ids, labels)
        return encoded[i]

    losses = []
    model.train()
    for _ in tqdm(range(steps), desc="format warm-up", leave=False, disable=not progress):
        batch = [encode(i) for i in rng.sample(range(len(rows)), min(batch_size, len(rows)))]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch], device=device)  # (B, T)
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch], device=device)  # (B, T)
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch], device=device)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    if losses:
        log.info("format warm-up: %d steps, loss %.3f -> %.3f", steps, losses[0], losses[-1])
    return losses
