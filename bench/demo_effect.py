"""Run the full demo once and print its wall time, CPU time, the load average and its claims table.

    python bench/demo_effect.py [--out DIR] [--model tiny|smollm2] [--seed S] [--reuse]

The claims are the demo's own (`multianswer.evaluation.claims`, read back from DIR/claims.json);
this script adds the timing, measured in the same process, and the load average, since a
shared machine makes wall time a poor measure on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path

from multianswer.demo.pipeline import DemoArgs, run_demo
from multianswer.evaluation.claims import Claim, claims_table


def main() -> None:
    """Run (or read) one demo and print its timing and claims."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/demo-bench", help="demo output folder (emptied first unless --reuse)")
    parser.add_argument("--model", default="tiny", help="demo preset")
    parser.add_argument("--seed", type=int, default=0, help="demo seed")
    parser.add_argument("--k", type=int, default=3, help="answers per set")
    parser.add_argument("--reuse", action="store_true", help="read an existing demo folder without re-running it")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.reuse:
        shutil.rmtree(out, ignore_errors=True)
        load_before = os.getloadavg()
        start = time.monotonic()
        run_demo(DemoArgs(out=str(out), model=args.model, k=args.k, seed=args.seed, progress=False))
        wall = time.monotonic() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        loads = " / ".join(f"{a:.1f}, {b:.1f}" for a, b in zip(load_before, os.getloadavg()))
        print(f"\nwall time {wall:.0f} s, CPU time {cpu:.0f} s ({cpu / wall:.2f} cores busy on average); "
              f"load average (1, 5, 15 min) before / after: {loads}")
    data = json.loads((out / "claims.json").read_text())
    print("\n" + claims_table([Claim(**c) for c in data["claims"]]))
    print(f"\nevery claim holds: {'yes' if data['all_hold'] else 'no'}")


if __name__ == "__main__":
    main()
