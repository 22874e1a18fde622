"""Where task data comes from: local files (JSONL, JSON, CSV, Parquet), the Hugging Face hub, a cache.

A data task takes an optional location after its name, `NAME:LOCATION`:

    NAME:/data/file.jsonl              one file; if its name says a split ('train', 'dev',
                                       'validation', 'test') it serves that split, else every split
    NAME:/data/dir                     a folder; each split takes the file whose name says it
    NAME:train=/a.json,test=/b.json    one file per split, named explicitly

Without a location, `$MULTIANSWER_DATA/NAME/` is used when it exists, else the hub.
"""

from __future__ import annotations

import ast
import csv
import gzip
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from multianswer.core.errors import UserError
from multianswer.core.paths import cache_dir  # noqa: F401  (tasks import it from here)

DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".csv.gz", ".parquet", ".zip")
# words in a file name that say which upstream split it holds
SPLIT_WORDS = {
    "train": ("train",),
    "validation": ("validation", "validate", "valid", "dev", "val"),
    "test": ("test",),
}
DOCS_HINT = "see docs/data.md"
T = TypeVar("T")


def write_jsonl_atomic(path: Path, rows: Iterable[dict]) -> None:
    """Write rows as JSON lines through a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache may be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------- reading files


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


def jsonl_objects(lines: Iterable[str], where: object) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank JSON line; a UserError names `where` and the line."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{where}, line {number}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{where}, line {number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    with _open_text(path) as f:
        yield from jsonl_objects(f, path)


def _json_rows(path: Path) -> Iterator[dict]:
    with _open_text(path) as f:
        text = f.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        if "\n{" in text:  # JSON lines saved as .json
            yield from (row for _, row in _jsonl_rows(path))
            return
        raise UserError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from None
    if isinstance(data, dict):  # {"data": [...]} or {"id": row, ...}
        data = data.get("data", list(data.values()))
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of objects")
    for number, row in enumerate(data):
        if not isinstance(row, dict):
            raise UserError(f"{path}: item {number} is not a JSON object")
        yield row


def _csv_rows(handle: Iterable[str]) -> Iterator[dict]:
    yield from csv.DictReader(handle)


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL, JSON, CSV, Parquet (or .gz / one-CSV .zip) file, as dicts."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        yield from (row for _, row in _jsonl_rows(path))
    elif name.endswith((".json", ".json.gz")):
        yield from _json_rows(path)
    elif name.endswith((".csv", ".csv.gz")):
        with _open_text(path) as f:
            yield from _csv_rows(f)
    elif name.endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
            yield from batch.to_pylist()
    elif name.endswith(".zip"):  # the DDXPlus release ships each patients CSV zipped
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/") and "__MACOSX" not in m]
            if len(members) != 1:
                raise UserError(f"{path}: expected one file inside the zip, found {len(members)}")
            with zf.open(members[0]) as raw:
                yield from _csv_rows(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    else:
        raise UserError(f"{path}: unsupported file type; use one of {', '.join(DATA_SUFFIXES)}")


def numbered_records(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) pairs: 'line N' in a JSONL file, 'row N' in other files, for error messages."""
    path = Path(path).expanduser()
    if path.name.lower().endswith((".jsonl", ".jsonl.gz")) and path.is_file():
        yield from ((f"line {n}", row) for n, row in _jsonl_rows(path))
    else:
        yield from ((f"row {n}", row) for n, row in enumerate(read_records(path), 1))


def as_list(value: Any) -> list:
    """A list field that a CSV file stores as text ("['a', 'b']") or JSON, as a Python list."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return [value]
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):  # numpy arrays from Parquet
        return list(value.tolist())
    return [value]


# ---------------------------------------------------------------------------- locations


def _split_of_name(name: str, wanted: dict[str, str]) -> str | None:
    """Which of our splits a file name says it holds (via the upstream split it names)."""
    stem = name.lower()
    for ours, upstream in wanted.items():
        if any(word in stem for word in SPLIT_WORDS.get(upstream, (upstream,))):
            return ours
    return None


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))


def resolve_local(task: str, location: str | None, upstream: dict[str, str]) -> dict[str, Path] | None:
    """Map each of our splits to a local file, or None when the hub should be used.

    `upstream` maps our split names to the upstream split each is built from
    (e.g. {'train': 'train', 'test': 'validation'}).
    """
    if not location:
        root = os.environ.get("MULTIANSWER_DATA")
        if not root or not (Path(root) / task).is_dir():
            return None
        location = str(Path(root) / task)
    if "=" in location:
        files = {}
        for part in location.split(","):
            split, _, path = part.partition("=")
            split = split.strip()
            if split not in upstream:
                raise UserError(f"task {task!r}: unknown split {split!r} in {location!r}; splits: {', '.join(upstream)}")
            files[split] = Path(path.strip()).expanduser()
    else:
        path = Path(location).expanduser()
        if path.is_dir():
            files = {}
            for candidate in _data_files(path):
                split = _split_of_name(candidate.name, upstream)
                if split is not None and split not in files:
                    files[split] = candidate
            if not files:
                raise UserError(
                    f"task {task!r}: no data file in {path} whose name says a split "
                    f"({', '.join(upstream.values())}); {DOCS_HINT}"
                )
        elif path.is_file():
            split = _split_of_name(path.name, upstream)
            files = {split: path} if split else {s: path for s in upstream}
        else:
            raise UserError(f"task {task!r}: data path not found: {path}")
    for split, path in files.items():
        if not path.is_file():
            raise UserError(f"task {task!r}: data file for split {split!r} not found: {path}")
    return files


def local_file(task: str, files: dict[str, Path], split: str) -> Path:
    """The file that serves `split`, with a clear error when none was given."""
    if split not in files:
        given = ", ".join(f"{s}={p}" for s, p in files.items())
        raise UserError(f"task {task!r}: no local file for split {split!r} (given: {given}); pass {split}=PATH")
    return files[split]


# ---------------------------------------------------------------------------- hub


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or HF_DATASETS_OFFLINE) says not to touch the network."""
    return any(
        os.environ.get(var, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def load_hub(task: str, name: str, config: str | None, split: str, local_spec: str) -> Sequence[dict]:
    """One split of a hub data set, or a UserError that says how to pass a local file instead."""
    how = f"pass a local file instead, as the task `{local_spec}` ({DOCS_HINT})"
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        raise UserError(f"task {task!r}: the `datasets` package is needed to read {name} from the hub; {how}") from None
    # `datasets` reads the offline switch once at import; one set later must still keep us off the network
    if hub_offline() and not datasets.config.HF_HUB_OFFLINE:
        raise UserError(f"task {task!r}: HF_HUB_OFFLINE is set, so {name} cannot be read from the hub; {how}")
    try:
        return datasets.load_dataset(name, config, split=split)
    except Exception as err:  # connection, missing repo, offline cache miss, gated access...
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise UserError(f"task {task!r}: could not load {name} from the Hugging Face hub ({first}); {how}") from None


@dataclass(frozen=True)
class HubSource:
    """Where a task's data lives on the hub: repository, configuration, and our split -> hub split."""

    name: str
    config: str | None
    splits: dict[str, str]

    def describe(self) -> str:
        return f"hub {self.name}" + (f" ({self.config})" if self.config else "") + " or local file"


def split_rows(
    task: str, location: str | None, upstream: dict[str, str], hub: HubSource | None, split: str,
    convert: Callable[[dict], T],
) -> Iterator[T]:
    """`convert` applied to the rows of one of our splits: from local files when given (or under
    $MULTIANSWER_DATA), else the hub. A row in the wrong layout is a UserError naming file and row."""
    files = resolve_local(task, location, upstream)
    if files is not None:
        origin = str(local_file(task, files, split))
        rows: Iterable[dict] = read_records(origin)
    elif hub is None:
        raise UserError(f"task {task!r} reads local files only: use `{task}:/path/to/data` ({DOCS_HINT})")
    else:
        origin = f"hub {hub.name} [{hub.splits[split]}]"
        rows = load_hub(task, hub.name, hub.config, hub.splits[split], f"{task}:{split}=/path/to/{upstream[split]}.jsonl")
    yield from convert_rows(task, origin, rows, convert)


def convert_rows(task: str, origin: str, rows: Iterable[dict], convert: Callable[[dict], T]) -> Iterator[T]:
    """`convert` over rows; a row in the wrong layout becomes a UserError naming `origin` and the row."""
    for number, row in enumerate(rows, 1):
        try:
            yield convert(row)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as err:
            problem = f"missing field {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
            raise UserError(f"task {task!r}: {origin}, row {number}: not in the upstream layout ({problem}); {DOCS_HINT}") from None
