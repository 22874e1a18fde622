"""Output directories checked before any work: a file or a read-only place is one line, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from multianswer.core.errors import UserError


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists: where `mkdir(parents=True)` would start."""
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_output_dir(path: str | os.PathLike, option: str) -> None:
    """Raise UserError unless `path` is, or could be made, a writable directory; creates nothing."""
    path = Path(path).expanduser()
    if os.path.lexists(path) and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, not a directory; choose another path")
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise UserError(f"{option} {path}: cannot create it, {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        # os.access also answers for a read-only mount, where even root cannot write
        read_only = bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
        why = "is on a read-only file system" if read_only else "is not writable"
        raise UserError(f"{option} {path}: {existing} {why}; choose another path")
