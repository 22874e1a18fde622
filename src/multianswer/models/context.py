"""Prompt plus completion against the model's context, checked from its config and tokenizer, before loading it.

A prompt past the context is not an error a model raises: generation just crawls through a
31,536-token prompt for minutes and writes nothing useful. The multi formats' system prompt
grows with K, so a large K is the usual cause; the message then names the K that fits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from multianswer.core.errors import UserError
from multianswer.core.formats import AnswerFormat, as_format
from multianswer.models.loading import load_tokenizer, model_path
from multianswer.tasks import Example, Task, prompt_messages

# config fields that hold the context length, by model family
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")
LONGEST = 32  # prompts tokenized per check: those of the problems with the most characters


def context_length(name: str) -> int | None:
    """The tokens model `name` attends over, from its config alone (no weights), or None when it does not say."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_path(name))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load model {name!r}: {str(err).splitlines()[0]}") from None
    config = config.get_text_config() if hasattr(config, "get_text_config") else config  # multimodal: the LM part
    for key in CONTEXT_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def prompt_tokens(tokenizer, messages: list[dict]) -> int:
    """Tokens of the chat-templated prompt, generation prompt included."""
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    return len(ids)


def check_fits_context(
    model: str,
    task: Task,
    examples: Sequence[Example],
    fmt: AnswerFormat | str,
    k: int,
    completion_tokens: int,
    *,
    k_option: str = "k",
    completion_option: str = "max_completion_length",
) -> None:
    """Raise one line when the longest prompt plus `completion_tokens` does not fit the context of `model`.

    Only the prompts of the LONGEST problems are built and tokenized (a prompt for K = 1000 is
    100 kB: all of them at once would take gigabytes). When K is what makes the prompt too long,
    the message names the largest K that fits.
    """
    context = context_length(model)
    if context is None or not examples:
        return
    fmt = as_format(fmt)
    tokenizer = load_tokenizer(model)

    def tokens(example: Example, kk: int) -> int:
        return prompt_tokens(tokenizer, prompt_messages(example, task, fmt, kk if fmt.is_multi else 1))

    sizes = {ex.id: (tokens(ex, k), ex) for ex in sorted(examples, key=lambda ex: -len(ex.problem))[:LONGEST]}
    prompt, longest = max(sizes.values(), key=lambda pair: pair[0])
    if prompt + completion_tokens <= context:
        return
    fits = f"does not fit the {context:,}-token context of {model}"
    said = f"the longest prompt is {prompt:,} tokens; with {completion_option} {completion_tokens} it {fits}"
    best = _largest_k(lambda kk: tokens(longest, kk) + completion_tokens <= context, k) if fmt.is_multi else None
    if best is not None:
        raise UserError(f"{k_option} {k}: {said}; {k_option} {best} at most fits")
    if prompt < context:
        raise UserError(f"{said}; set {completion_option} {context - prompt} at most")
    raise UserError(f"the longest prompt is {prompt:,} tokens: it alone {fits}")


def _largest_k(fits: Callable[[int], bool], k: int) -> int | None:
    """The largest K below `k` for which `fits` holds (prompts grow with K), or None when K = 1 does not fit."""
    if k <= 1 or not fits(1):
        return None
    low, high = 1, k - 1  # fits(low) holds
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low
