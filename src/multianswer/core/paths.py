"""Where multianswer keeps what it builds: one cache root for data sets and models."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The folder for built data sets and models: $MULTIANSWER_CACHE, else ~/.cache/multianswer."""
    root = os.environ.get("MULTIANSWER_CACHE") or Path.home() / ".cache" / "multianswer"
    return Path(root)
