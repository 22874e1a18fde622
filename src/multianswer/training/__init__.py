"""GRPO training on TRL: typed config, trainer, format warm-up, rollout monitor."""
