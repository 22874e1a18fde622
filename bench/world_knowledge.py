"""How well a model knows the toy world: its first-answer distribution against the world's true one.

    python bench/world_knowledge.py MODEL_DIR [--questions 40]

For each world kind and split, the model reads a question in the single format and is about
to write its answer; its next-token distribution over the question's labels (renormalised)
is compared with the truth (a world-sets question's answer weights, a world-cases question's
illness probabilities). Prints the mean total-variation distance (0 = knows it exactly) and
the true mass of the model's most likely label (the oracle's top-1 on the last line). A
check of the demo's warm-up that needs no sampling: it tells whether the base model learned
the world before any RL is run.
"""

from __future__ import annotations

import argparse

import torch

from multianswer.models.loading import load_model
from multianswer.tasks import get_task, prompt_messages
from multianswer.tasks.base import Example, Task

ANSWER_PREFIX = "<think>Let me think.</think><answer>"
TRUTH = {"world-sets": "weights", "world-cases": "probabilities"}


def label_distribution(model, tokenizer, task: Task, example: Example) -> dict[str, float]:
    """The model's probability of each label as its single answer (first token of ' label'), renormalised."""
    text = tokenizer.apply_chat_template(prompt_messages(example, task, "single", 1), add_generation_prompt=True,
                                         tokenize=False) + ANSWER_PREFIX
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        probs = torch.softmax(model(ids).logits[0, -1], dim=-1)
    labels = example.metadata["labels"]
    first = [tokenizer(" " + label, add_special_tokens=False)["input_ids"][0] for label in labels]
    mass = probs[first].tolist()
    return {label: m / sum(mass) for label, m in zip(labels, mass)}


def main() -> None:
    """Print the table for one model."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model directory (e.g. a demo's OUT/base)")
    parser.add_argument("--questions", type=int, default=40, help="questions per kind and split")
    args = parser.parse_args()
    model, tokenizer = load_model(args.model, device="cpu")
    print("| kind | split | TV distance | true mass of the model's top label | oracle top-1 |\n|---|---|---:|---:|---:|")
    for name, key in TRUTH.items():
        task = get_task(name)
        for split in ("pretrain", "test"):
            examples = task.examples(split)[: args.questions]
            tv = top = oracle = 0.0
            for ex in examples:
                got = label_distribution(model, tokenizer, task, ex)
                true = {label: ex.metadata[key].get(label, 0.0) for label in got}
                tv += 0.5 * sum(abs(got[label] - true[label]) for label in got)
                top += true[max(got, key=got.get)]
                oracle += max(true.values())
            n = len(examples)
            print(f"| {name} | {split} | {tv / n:.3f} | {top / n:.3f} | {oracle / n:.3f} |")


if __name__ == "__main__":
    main()
