"""What teaching SmolLM2-135M the toy world would cost here: seconds per supervised LoRA step.

    python bench/smollm2_warmup_cost.py [--batch-sizes 4 16] [--threads 1]

The demo's tiny model learns the world (`world-sets`, `world-cases`) in 1600 supervised steps of
16 examples of its `pretrain` split. This times a few such steps on SmolLM2-135M-Instruct with
the LoRA adapter of `configs/smollm2-effect.yaml` (r 16, all linear layers), and, as the anchor,
one forward pass over the same prompts, and prints the projected time of the demo's warm-up.
"""

from __future__ import annotations

import argparse
import time

import torch
from peft import LoraConfig, get_peft_model

from multianswer.demo.pipeline import PRESETS
from multianswer.demo.pretraining import DemoWarmupArgs, warmup_pairs
from multianswer.models.loading import load_model
from multianswer.tasks import get_task
from multianswer.training.format_warmup import format_warmup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16], help="examples per supervised step")
    parser.add_argument("--steps", type=int, default=3, help="steps timed per batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_model("smollm2", device="cpu")
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    pairs = warmup_pairs([get_task("world-sets"), get_task("world-cases")], 64, DemoWarmupArgs())
    prompt = tokenizer.apply_chat_template(pairs[0][0], tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    steps, demo_batch = PRESETS["tiny"].warmup_steps, DemoWarmupArgs().batch_size
    print(f"prompt: {len(ids)} tokens; the tiny demo model's warm-up: {steps} steps of {demo_batch} examples")
    for batch in args.batch_sizes:
        start = time.perf_counter()
        format_warmup(model, tokenizer, pairs, args.steps, 1e-3, batch, 0, False)
        per_step = (time.perf_counter() - start) / args.steps
        start = time.perf_counter()
        with torch.no_grad():
            model(torch.tensor([ids] * batch))
        forward = time.perf_counter() - start
        hours = per_step * steps * demo_batch / batch / 3600
        print(f"batch {batch:>3}: {per_step:6.1f} s per step = {per_step / forward:4.1f}x one forward pass of the prompts "
              f"({forward:.2f} s); the warm-up's {steps * demo_batch} examples: {hours:.1f} h")


if __name__ == "__main__":
    main()
