"""vLLM's offline engine as a generation backend (GPU only, chosen when vllm is importable)."""

from __future__ import annotations

from typing import Any

from multianswer.generation.base import BackendBase, Completion, SamplingArgs, prompt_seeds, prompt_token_ids


def vllm_available() -> bool:
    """True when vllm is importable and a CUDA GPU is present."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


class VLLMBackend(BackendBase):
    """vLLM's offline engine; prompts are token ids rendered by the same chat template as HFBackend."""

    name = "vllm"

    def __init__(self, model_path: str, tokenizer: Any, dtype: str = "auto", chunk: int = 512, **engine_args: Any):
        from vllm import LLM

        self.tokenizer, self.chunk = tokenizer, chunk
        self.llm = LLM(model=model_path, dtype=dtype, **engine_args)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, prompts, args: SamplingArgs, seed=0):
        """Yield (prompt index, n completions), `chunk` prompts per engine call (so results land on disk as they come)."""
        from vllm import SamplingParams

        seeds = prompt_seeds(seed, len(prompts))
        for start in range(0, len(prompts), self.chunk):
            idx = range(start, min(start + self.chunk, len(prompts)))
            requests = [{"prompt_token_ids": prompt_token_ids(self.tokenizer, prompts[i])} for i in idx]
            params = [
                SamplingParams(
                    n=args.n, temperature=args.temperature, top_p=args.top_p,
                    max_tokens=args.max_new_tokens, seed=seeds[i] % (2**31),
                )
                for i in idx
            ]
            for i, result in zip(idx, self.llm.generate(requests, params, use_tqdm=True)):
                yield i, [Completion(o.text, len(o.token_ids)) for o in result.outputs]
