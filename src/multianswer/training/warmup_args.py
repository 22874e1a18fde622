"""The `warmup:` section of a training config: supervised format steps before GRPO, and where their answers come from.

    borrowed  each target holds answers taken from OTHER questions' golds (the task's answer type,
              almost always wrong for this question): teaches the format, but a real LM learns to
              name those wrong answers
    own       the model first answers each warm-up question plainly, n times; each target holds the
              model's OWN answers in the method's format (most frequent first, confidences = their
              sample frequencies): teaches the format and keeps what the model knows; no gold
              answer ever enters a target
"""

from __future__ import annotations

from dataclasses import dataclass, field

from multianswer.core.errors import UserError
from multianswer.generation.options import check_sampling
from multianswer.generation.plain import PLAIN_INSTRUCTION

WARMUP_SOURCES = ("borrowed", "own")


@dataclass
class WarmupArgs:
    """Supervised steps before GRPO that teach a small model the completion format (training/format_warmup.py)."""

    format_warmup_steps: int = field(
        default=0, metadata={"help": "Supervised format steps before GRPO (0 = none; for models that never write the format)."}
    )
    format_warmup_lr: float = field(default=1e-4, metadata={"help": "Learning rate of the format warm-up."})
    format_warmup_batch_size: int = field(default=8, metadata={"help": "Examples per format warm-up step."})
    format_warmup_learn_answers: bool = field(
        default=True,
        metadata={"help": "Put loss on the warm-up's answers too; false leaves the answers' tokens out of the loss."},
    )
    format_warmup_source: str = field(
        default="borrowed",
        metadata={"help": "Answers in the warm-up targets: 'borrowed' (other questions' golds) or 'own' (the model's "
                          "own plain answers to the question, most frequent first; never a gold answer)."},
    )
    format_warmup_samples: int = field(
        default=8, metadata={"help": "Source 'own': plain answers sampled per warm-up question."}
    )
    format_warmup_temperature: float = field(
        default=1.0, metadata={"help": "Source 'own': sampling temperature of the plain answers."}
    )
    format_warmup_max_new_tokens: int = field(
        default=16, metadata={"help": "Source 'own': tokens per plain answer at most (the answer is taken from the reply)."}
    )
    format_warmup_instruction: str = field(
        default=PLAIN_INSTRUCTION,
        metadata={"help": "Source 'own': the line after the question when the model is asked plainly."},
    )

    def check(self) -> None:
        """Raise UserError for values that cannot run."""
        if self.format_warmup_steps < 0 or self.format_warmup_batch_size < 1:
            raise UserError("format_warmup_steps must be at least 0 and format_warmup_batch_size at least 1")
        if self.format_warmup_source not in WARMUP_SOURCES:
            raise UserError(f"format_warmup_source: must be one of {', '.join(WARMUP_SOURCES)}, "
                            f"got {self.format_warmup_source!r}")
        try:
            check_sampling(self.format_warmup_temperature, 1.0, self.format_warmup_max_new_tokens, self.format_warmup_samples)
        except UserError as err:
            raise UserError(f"format_warmup_temperature/_max_new_tokens/_samples: {err}") from None
