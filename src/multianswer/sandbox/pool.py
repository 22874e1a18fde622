"""Client side of the sandbox's processes: warm `runner.py` workers, started on demand and kept.

One worker per job running at a time; a worker that missed its deadline or failed is
stopped, and a dead one is replaced, so a job always gets a worker that answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

RUNNER = Path(__file__).with_name("runner.py")
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


def workdir(mode: str):
    """A temporary working directory, needed only without namespaces (they bring a private tmpfs)."""
    if mode != "none":
        return contextlib.nullcontext(None)
    return tempfile.TemporaryDirectory(prefix="multianswer-sandbox-", ignore_cleanup_errors=True)


class Worker:
    """One warm `runner.py` process (see its docstring): it runs one job, while the one before may still be ending."""

    def __init__(self, isolation: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)  # one message per job
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", "-u", str(RUNNER), str(theirs.fileno()), isolation],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=_ENV, cwd="/", start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        self.sock = ours
        hello = ours.recv(1024)  # what isolation the worker got, once it is ready
        if not hello:
            self.close()
            raise RuntimeError(f"the sandbox worker did not start (exit code {self.proc.wait()})")
        self.mode = json.loads(hello)["mode"]
        self.healthy = True  # False once it missed a deadline: such a worker gets no further job

    def start(self, fds: list[int], timeout_s: float) -> None:
        """Hand (job stdin, output, token, status) file descriptors to the worker for its next job."""
        socket.send_fds(self.sock, [json.dumps({"timeout_s": timeout_s}).encode()], fds)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """Stop the worker: killing it takes the job it runs, if any, with it."""
        self.sock.close()
        if self.alive():
            self.proc.kill()
            self.proc.wait()


class WorkerPool:
    """Warm workers per isolation setting, one per job running at a time, kept between jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[str, list[Worker]] = {}
        os.register_at_fork(after_in_child=self._forget)  # a forked copy of this process starts its own

    def _forget(self) -> None:
        for workers in self._idle.values():
            for worker in workers:
                worker.sock.close()
        self._lock, self._idle = threading.Lock(), {}

    @contextlib.contextmanager
    def worker(self, isolation: str):
        """An idle worker (a new one if none is idle); back to the pool unless the job broke it."""
        with self._lock:
            idle = self._idle.setdefault(isolation, [])
            worker = idle.pop() if idle else None
        if worker is None or not worker.alive():
            worker = Worker(isolation)
        try:
            yield worker
        except BaseException:
            worker.close()
            raise
        if worker.healthy and worker.alive():
            with self._lock:
                self._idle[isolation].append(worker)
        else:
            worker.close()


WORKERS = WorkerPool()
