"""The one check of sampling options, shared by `eval`, `generate` and the backends' SamplingArgs.

It runs before any model is loaded, so a bad option costs nothing. The error is a UserError
(one line, exit code 2 on the command line) and a ValueError (for Python callers).
"""

from __future__ import annotations

from multianswer.core.errors import UserError


class SamplingOptionError(UserError, ValueError):
    """A sampling option out of range (temperature, top-p, new tokens, samples)."""


def check_sampling(temperature: float, top_p: float, max_new_tokens: int, n: int = 1) -> None:
    """Raise SamplingOptionError unless temperature >= 0, 0 < top_p <= 1, max_new_tokens >= 1 and n >= 1."""
    if temperature < 0 or not 0 < top_p <= 1:
        raise SamplingOptionError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature} and {top_p}")
    if max_new_tokens < 1 or n < 1:
        raise SamplingOptionError(f"need max_new_tokens >= 1 and n >= 1, got {max_new_tokens} and {n}")
