"""Run model-written Python programs against their unit tests in a sandbox.

`check_program(program, tests)` runs one candidate; `check_programs` runs many in parallel;
`CodeVerifier` plugs into `matching.get_verifier("code")`.

Tests are Python source that raises when a test fails, as the benchmarks give it:
- MBPP: `test_setup_code + "\\n" + "\\n".join(test_list)` (plain `assert` lines);
- HumanEval: `problem["test"] + f"\\ncheck({problem['entry_point']})"`: the `check(candidate)`
  definition *and* the call; without the call nothing is tested and every program passes.
The program runs first, then the tests see its top-level names (except ones that shadow a
builtin) with a private copy of the original builtins. Programs get the standard library
only (the interpreter runs with -I -S: no site-packages).

A candidate passes only if the tests ran to their end. Trusted warm workers (`runner.py`,
one `python -I -S -B -u` per job running at a time, stdlib preloaded, kept between jobs)
fork a fresh child per program, in fresh namespaces; the child gets the program, tests and
a random per-run token on its stdin, which is closed before candidate code runs. The
harness (`harness.py`) writes the token to an inherited pipe only after the tests returned,
and we count a pass only when that exact token arrives and the worker reports a clean
exit. `exit(0)`, `os._exit(0)`, `raise SystemExit`, killing the harness, patching builtins
or harness functions, or printing "passed" all fail.

Isolation, strongest available, chosen per run (`sandbox_isolation()` says what is in force):
- "root" (we are root and may unshare, as on the development machine): new mount, network,
  pid, IPC and UTS namespaces; a random unprivileged uid/gid, so RLIMIT_NPROC counts this
  sandbox alone and host files are out of reach; the host file system remounted read-only
  (mount_setattr, recursive); a fresh 64 MiB tmpfs on /tmp (and /dev/shm) holding the
  working directory, gone with the namespace; a private /proc; no network (the new
  namespace has only a downed loopback).
- "userns" (not root, unprivileged user namespaces allowed): the same namespaces inside the
  worker's user namespace, which maps only our own uid, with all capabilities dropped
  before candidate code runs.
- "none" (neither, or `isolation="none"`): no namespaces; the audit hook also refuses new
  processes, signals, sockets and writes outside the working directory (a temporary
  directory we delete afterwards). Weaker: it stops Python-level attacks only.
Always: RLIMIT_CPU, RLIMIT_AS (memory), RLIMIT_FSIZE, RLIMIT_NOFILE, no core dumps, a
wall-clock limit, stdin on /dev/null, environment scrubbed to PATH and LANG (+ HOME, TMPDIR
pointing at the working directory), output capped (past the cap the run is killed; nothing
beyond it is buffered), no_new_privs, not dumpable, SIGKILL when the worker dies, and the
child's process group killed at the end (with a pid namespace, every process in it dies
with its pid 1). The audit hook denies frame and gc introspection, ctypes, crafted code
objects, directory file descriptors and /proc: the ways to read the token from memory.

Not prevented: a candidate whose return values lie (an object whose `__eq__` is always
True) or that patches a shared module the tests use (`math.isclose`) when called, since the
tests compare values the candidate controls; and exploits of memory-safety bugs in CPython
itself, which would get native code inside the (still namespaced) sandbox.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import selectors
import signal
import textwrap
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

from multianswer.core.errors import UserError
from multianswer.sandbox.pool import WORKERS, Worker, workdir

STATUSES = ("passed", "failed", "error", "timeout", "memory", "output_limit")
ISOLATION_MODES = ("auto", "none")
MAX_SOURCE_BYTES = 1 << 20
_GRACE_S = 10.0  # our own backstop past the harness's limit, for interpreter start on a busy machine
_REPORT_CAP = 1 << 16


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one program run against its tests."""

    passed: bool
    status: str  # one of STATUSES
    detail: str = ""
    duration_s: float = 0.0
    output: str = ""  # the first `output_limit` bytes of stdout and stderr
    isolation: Mapping[str, object] = field(default_factory=dict)


def check_program(
    program: str,
    tests: str,
    timeout_s: float = 10.0,
    memory_mb: int = 512,
    *,
    output_limit: int = 64 * 1024,
    file_mb: int = 16,
    max_processes: int = 32,
    isolation: str = "auto",
) -> SandboxResult:
    """Run `program` then `tests` in a fresh sandboxed process; passed only if every test ran."""
    if not tests.strip():
        raise ValueError("tests are empty: every program would pass")
    if isolation not in ISOLATION_MODES:
        raise ValueError(f"isolation must be one of {ISOLATION_MODES}, got {isolation!r}")
    start = time.monotonic()
    if len(program.encode()) + len(tests.encode()) > MAX_SOURCE_BYTES:
        return SandboxResult(False, "error", f"program and tests exceed {MAX_SOURCE_BYTES} bytes")
    token = secrets.token_hex(16)
    with WORKERS.worker(isolation) as worker, workdir(worker.mode) as directory:
        job = dict(program=program, tests=tests, token=token, timeout_s=timeout_s, memory_mb=memory_mb,
                   file_mb=file_mb, max_processes=max_processes, workdir=directory)
        stdout, reports, status, overflow, late = _run_harness(worker, json.dumps(job).encode(), timeout_s,
                                                               output_limit)
    duration = time.monotonic() - start
    verdict = _verdict(reports, status, token, overflow, late, timeout_s, output_limit)
    return SandboxResult(verdict[0] == "passed", *verdict[:2], duration_s=duration,
                         output=stdout.decode(errors="replace"), isolation=verdict[2])


def _run_harness(worker: Worker, job: bytes, timeout_s: float,
                 output_limit: int) -> tuple[bytes, bytes, bytes, bool, bool]:
    """Run one job on `worker`; (stdout, token pipe, status pipe, output overflow, late)."""
    pipes = [os.pipe() for _ in range(4)]  # job stdin, output, token, status
    theirs = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]]
    job_w, out_r, token_r, status_r = pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0]
    buffers = {out_r: bytearray(), token_r: bytearray(), status_r: bytearray()}
    try:
        try:
            worker.start(theirs, timeout_s)
        finally:
            for fd in theirs:
                os.close(fd)
        try:
            _write_all(job_w, job)  # the child reads all of it before doing anything else
        except BrokenPipeError:
            pass
        os.close(job_w)
        job_w = -1
        overflow, late = _collect(buffers, out_r, token_r, status_r, time.monotonic() + timeout_s + _GRACE_S,
                                  output_limit)
        if overflow or late:
            _kill_child(bytes(buffers[status_r]))
        worker.healthy = not late
    finally:
        for fd in (job_w, out_r, token_r, status_r):
            if fd >= 0:
                os.close(fd)
    return bytes(buffers[out_r]), bytes(buffers[token_r]), bytes(buffers[status_r]), overflow, late


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _kill_child(status: bytes) -> None:
    """SIGKILL the job's child: as pid 1 of its namespace, everything it started dies with it."""
    pid = _json_line(status.split(b"\n", 1)[0]).get("child")
    if isinstance(pid, int) and pid > 1:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _collect(buffers: dict[int, bytearray], out_fd: int, token_fd: int, status_fd: int, deadline: float,
             output_limit: int) -> tuple[bool, bool]:
    """Read all pipes until the harness's end is known; keep at most the caps.

    The end is known when pid 1 of the namespace reported the harness's exit and the
    output and token pipes closed, or (without namespaces, or when pid 1 was killed) when
    the worker closed the status pipe after reporting the child's fate. Returns (output
    over the cap, our deadline passed). Past the caps, bytes are dropped as they come, so
    a program printing gigabytes costs no memory.
    """
    caps = {fd: output_limit if fd == out_fd else _REPORT_CAP for fd in buffers}
    with selectors.DefaultSelector() as sel:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ)
        while not _harness_ended(sel.get_map(), buffers[status_fd], out_fd, token_fd, status_fd):
            left = deadline - time.monotonic()
            if left <= 0:
                return False, True
            for key, _ in sel.select(left):
                if _read_into(buffers[key.fd], key.fd, caps[key.fd]) is None:
                    sel.unregister(key.fd)
                elif key.fd == out_fd and len(buffers[out_fd]) > output_limit:
                    return True, False
        # Whatever was written before the harness exited is still in the pipes.
        while sel.get_map() and status_fd not in sel.get_map() and (ready := sel.select(0.05)):
            for key, _ in ready:
                if _read_into(buffers[key.fd], key.fd, caps[key.fd]) is None:
                    sel.unregister(key.fd)
    return len(buffers[out_fd]) > output_limit, False


def _harness_ended(still_open: Mapping, status: bytes, out_fd: int, token_fd: int, status_fd: int) -> bool:
    """True once the worker closed the status pipe, or pid 1 reported the harness's exit and its pipes closed."""
    if status_fd not in still_open:
        return True
    return (out_fd not in still_open and token_fd not in still_open
            and any("harness_exit" in _json_line(line) for line in status.splitlines()))


def _read_into(buffer: bytearray, fd: int, cap: int) -> int | None:
    """Append what `fd` has, keeping at most cap + 1 bytes; None at end of file."""
    data = os.read(fd, 1 << 16)
    if not data:
        return None
    buffer += data[: max(cap + 1 - len(buffer), 0)]
    return len(data)


def _verdict(reports: bytes, status: bytes, token: str, overflow: bool, late: bool, timeout_s: float,
             output_limit: int) -> tuple[str, str, dict]:
    """(status, detail, isolation) from the pipes; 'passed' needs the token and a clean exit."""
    isolation: dict = {}
    fate, harness_exit = None, None
    for line in status.splitlines():
        message = _json_line(line)
        if "setup_error" in message:
            raise RuntimeError(f"sandbox setup failed: {message['setup_error']}; "
                               "isolation='none' runs with resource limits and audit hooks only")
        isolation = message.get("isolation", isolation)
        fate = message if "exit" in message else fate
        harness_exit = message.get("harness_exit", harness_exit)  # from pid 1 of the namespace
    if overflow:
        return "output_limit", f"more than {output_limit} bytes of output", isolation
    if late:
        return "timeout", "the harness did not finish", isolation
    if fate is None and harness_exit is None:
        return "error", "the test harness was killed before it reported", isolation
    if fate is not None and fate.get("timeout"):
        return "timeout", f"still running after {timeout_s:g} s", isolation
    code = fate["exit"] if harness_exit is None else harness_exit
    # Without the worker's word (the client stops at pid 1's report), pid 1 exits 0 right after it.
    clean = fate is None or fate["exit"] == 0
    if code == 0 and clean and token.encode() in reports.splitlines():
        return "passed", "", isolation
    for line in reports.splitlines():
        report = _json_line(line)
        if report.get("status") in ("failed", "error", "memory"):
            return report["status"], str(report.get("detail", ""))[:300], isolation
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        if -code == signal.SIGXCPU:
            return "timeout", "CPU time limit", isolation
        return "error", f"killed by {name} before the tests finished", isolation
    return "error", f"exited with code {code} before the tests finished", isolation


def _json_line(line: bytes) -> dict:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def check_programs(
    jobs: Iterable[tuple[str, str]],
    timeout_s: float = 10.0,
    workers: int | None = None,
    progress: bool = False,
    **limits,
) -> list[SandboxResult]:
    """`check_program` on many (program, tests) pairs in parallel; results in input order."""
    jobs = list(jobs)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda job: check_program(job[0], job[1], timeout_s, **limits), jobs)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(jobs), desc="sandbox", unit="program")
        return list(results)


@lru_cache(maxsize=2)
def sandbox_isolation(isolation: str = "auto") -> Mapping[str, object]:
    """What isolation a run gets on this machine (mode, network, uid, file system, /proc)."""
    return check_program("", "assert True", timeout_s=10.0, isolation=isolation).isolation


_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.S | re.M)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


def extract_code(text: str) -> str:
    """The program in a model's answer: its fenced Python blocks joined, else the whole text."""
    blocks = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]
    python = [body for tag, body in blocks if tag in _PYTHON_TAGS] or [body for _, body in blocks]
    code = "\n\n".join(textwrap.dedent(b).strip("\n") for b in python) if python else text
    return textwrap.dedent(code).strip("\n") + "\n"


def first_string(gold: object) -> str | None:
    """The first string inside `gold` (a string, a list, or a list of alias lists)."""
    if isinstance(gold, str):
        return gold
    if isinstance(gold, Iterable) and not isinstance(gold, (bytes, Mapping)):
        for item in gold:
            if (found := first_string(item)) is not None:
                return found
    return None


class CodeVerifier:
    """Verifier for code tasks: each candidate is a program, the gold holds its test code."""

    def __init__(self, timeout_s: float = 10.0, memory_mb: int = 512, workers: int | None = None):
        self.timeout_s, self.memory_mb, self.workers = timeout_s, memory_mb, workers

    def __call__(self, candidates: Sequence[str], gold: object) -> list[bool]:
        tests = first_string(gold)
        if tests is None or not tests.strip():
            raise UserError("code verifier: the example's answers hold no test code")
        programs = [extract_code(c) if c.strip() else "" for c in candidates]
        unique = list(dict.fromkeys(p for p in programs if p.strip()))  # K copies of one program run once
        results = check_programs([(p, tests) for p in unique], self.timeout_s, self.workers, memory_mb=self.memory_mb)
        passed = {p: r.passed for p, r in zip(unique, results)}
        return [passed.get(p, False) for p in programs]
