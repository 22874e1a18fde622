"""The `tiny` built-in model: a seeded random Llama and a small BPE tokenizer trained here, offline.

For tests and the demo: it loads in a second, needs no download, and its tokenizer keeps the
format's tags and digits whole, so a few hundred supervised steps teach it to write the formats.
"""

from __future__ import annotations

from pathlib import Path

import torch

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_corpus() -> list[str]:
    """The text the tiny tokenizer is trained on: prompts, tags, digits and common words."""
    from multianswer.core.formats import AnswerFormat, format_completion, system_prompt, user_prompt

    lines = []
    for fmt in AnswerFormat:
        for k in (1, 2, 3, 4, 5):
            lines.append(system_prompt(fmt, k))
            lines.append(user_prompt("What is 12 + 30?", fmt, k))
    for i in range(1, 6):
        lines.append(f"<answer{i}>{i}</answer{i}><confidence{i}>0.{i}</confidence{i}>")
    lines.append(format_completion(["42"], "single-conf", [0.8], "12 plus 30 is 42.", "I added."))
    lines.append(format_completion(["a", "b", "c"], "multi-conf", [0.5, 0.3, 0.2], "Three options.", "Spread."))
    lines.append(" ".join(str(n) for n in range(0, 1000)))
    lines.append("0.0 0.05 0.1 0.15 0.2 0.25 0.3 0.35 0.4 0.45 0.5 0.6 0.7 0.75 0.8 0.9 0.95 1.0 1 %")
    lines.append(". , ; : ! ? ' \" ( ) [ ] { } < > / \\ - + * = _ # @ & $ ^ ~ ` |")
    lines.append(
        "the a an of and or to in is are was were be it that this which what who where when why how "
        "many much which name city country river person year number sum set list answer question "
        "candidate probability confidence correct wrong true false yes no not one two three four five "
        "six seven eight nine ten first second third most least likely think reasoning step because "
        "so then therefore if else than more less some all any each every with without from by for "
        "on at as we you i he she they them his her their our your my its has have had do does did "
        "can could would should will may might must give find choose pick solve compute count add "
        "multiply subtract divide equal plus minus times digit digits letter word words color animal"
    )
    return lines


def build_tiny(
    out: str | Path,
    corpus: list[str] | None = None,
    seed: int = 0,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    num_layers: int = 2,
    phrases: list[str] | None = None,
) -> Path:
    """A small BPE trained on `corpus` (default: tiny_corpus()) and a seeded random Llama, saved to `out`.

    The pre-tokenizer keeps each tag (`<answer1>`) and each digit a token of its own and lets
    merges cross spaces, so the fixed system prompts shrink to a few dozen tokens: a tiny model
    then spends its compute on the answers, not on reading boilerplate.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"</?[a-z]+\d*>|\d|\n| ?[A-Za-z]+"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        max_token_length=48,
        show_progress=False,
    )
    backend.train_from_iterator((corpus if corpus is not None else tiny_corpus()) * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|pad|>", unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    if phrases:
        tokenizer.add_tokens(sorted(set(phrases)))
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>", "<|pad|>")}

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=ids["<|im_start|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|pad|>"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return Path(out)
