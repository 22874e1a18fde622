"""Run the demo on several seeds; print mean ± sd of every claim's figures and whether each claim held in every seed.

    python bench/demo_seeds.py [--seeds 0 1 2] [--out runs/demo-seeds] [--model tiny] [--reuse] [--set KEY=VALUE ...]

Each seed is a full `multianswer demo --seed S --out OUT/seed-S` (its claims.json is read
back). Seeds run one after another; `--reuse` only reads the folders that are there (so
seeds may also run as separate processes, `--seeds 1`, and be gathered afterwards). Prints
each seed's wall time, its CPU time and the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

from multianswer.demo.pipeline import DemoArgs, run_demo


def seed_claims(folder: Path) -> dict[tuple[str, str], dict]:
    """(kind, claim id) -> claim row of one seed's claims.json."""
    data = json.loads((folder / "claims.json").read_text())
    return {(c["kind"], c["id"]): c for c in data["claims"]}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def _interval_ends(intervals: list[list[float]]) -> str:
    """' (95% interval: low end mean ± sd, high end mean ± sd)' of the seeds' intervals."""
    return f" (95% interval: {_mean_sd([i[0] for i in intervals])} to {_mean_sd([i[1] for i in intervals])})"


def seeds_table(per_seed: dict[int, dict[tuple[str, str], dict]]) -> str:
    """One row per claim: mean ± sd of its figure (and of its interval's ends) and reference over seeds, and held in every seed."""
    keys = list(dict.fromkeys(key for claims in per_seed.values() for key in claims))
    lines = ["| claim | kind | value (mean ± sd) | against (mean ± sd) | held |", "|---|---|---:|---:|---|"]
    for key in keys:
        rows = [claims[key] for claims in per_seed.values() if key in claims]
        values = [r["value"] for r in rows if r["value"] is not None]
        refs = [r["reference"] for r in rows if r["reference"] is not None]
        intervals = [r["interval"] for r in rows if r.get("interval")]
        value = _mean_sd(values) + (_interval_ends(intervals) if intervals else "")
        verdicts = [r["holds"] for r in rows]
        if all(v is None for v in verdicts) and key[1].startswith("d."):
            held = "(figure)"
        else:
            held = f"{sum(v is True for v in verdicts)}/{len(per_seed)}" + (" ✓ every seed" if all(v is True for v in verdicts) and len(rows) == len(per_seed) else " ✗")
        lines.append(f"| {rows[0]['statement']} | {key[0]} | {value} | {_mean_sd(refs) if refs else ''} | {held} |")
    return "\n".join(lines)


def main() -> None:
    """Run (or read) the seeds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="demo seeds to run")
    parser.add_argument("--out", default="runs/demo-seeds", help="one sub-folder per seed")
    parser.add_argument("--model", default="tiny", help="demo preset")
    parser.add_argument("--reuse", action="store_true", help="only read the seeds' existing claims.json")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a change to the preset for every seed (as `multianswer demo --set`); repeatable")
    args = parser.parse_args()
    out = Path(args.out)
    per_seed = {}
    for seed in args.seeds:
        folder = out / f"seed-{seed}"
        if not args.reuse:
            start, cpu_start = time.monotonic(), _cpu_seconds()
            run_demo(DemoArgs(out=str(folder), model=args.model, seed=seed, progress=False, overrides=args.overrides))
            load = " ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"\nseed {seed}: wall time {time.monotonic() - start:.0f} s, CPU time {_cpu_seconds() - cpu_start:.0f} s "
                  f"(load average (1, 5, 15 min) now {load})", flush=True)
        if (folder / "claims.json").is_file():
            per_seed[seed] = seed_claims(folder)
    print(f"\nseeds {sorted(per_seed)} ({len(per_seed)} of {len(args.seeds)} finished):\n")
    print(seeds_table(per_seed))
    every = all(c["holds"] is True for claims in per_seed.values() for (_, cid), c in claims.items() if not cid.startswith("d."))
    print(f"\nevery claim held in every seed: {'yes' if every and len(per_seed) == len(args.seeds) else 'no'}")


if __name__ == "__main__":
    main()
