"""`multianswer tasks`: list the registered tasks, their splits, sizes and data sources."""

from __future__ import annotations

import argparse
import json

from multianswer.tasks import get_task, task_names

BRING_YOUR_OWN_FAMILIES = {  # task spec prefix -> (splits, sizes, source) for the listing
    "jsonl:PATH": ("train, test (or the file's `split` values)", "your file", "local JSONL/JSON/CSV/Parquet file"),
    "hf:NAME": ("train, test", "hub", "any Hugging Face data set, with a column mapping"),
}


def _unknown(task) -> str:
    """What to show for sizes that only loading would tell (hub data, or the user's files)."""
    where = "local file" if task.source.startswith("local") else "hub/local file"
    return f"{', '.join(task.splits)}: {where}"


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `multianswer tasks`."""
    parser.add_argument("--json", action="store_true", help="print one JSON object per task instead of a table")


def task_rows() -> list[dict]:
    """One row per registered task (and per bring-your-own family): name, splits, sizes, source, description."""
    rows = []
    for name in task_names():
        task = get_task(name)
        sizes = task.sizes() if task.sizes is not None else None
        rows.append({
            "task": name,
            "splits": ", ".join(task.splits),
            "sizes": ", ".join(f"{s} {sizes[s]}" for s in task.splits) if sizes else _unknown(task),
            "verifier": task.verifier,
            "source": task.source,
            "description": task.description,
        })
    for spec, (splits, sizes, source) in BRING_YOUR_OWN_FAMILIES.items():
        rows.append({"task": spec, "splits": splits, "sizes": sizes, "verifier": "match",
                     "source": source, "description": "bring your own data (see docs/data.md)"})
    return rows


def table(rows: list[dict], columns: tuple[str, ...]) -> str:
    """Rows as a left-aligned text table with a header."""
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the task list."""
    rows = task_rows()
    if args.json:
        for row in rows:
            print(json.dumps(row))
    else:
        print(table(rows, ("task", "sizes", "verifier", "source", "description")))
    return 0
