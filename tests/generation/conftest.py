"""Shared fixtures: a real OpenAI-compatible server (`transformers serve`) on the offline SmolLM2.

`served_smollm2` starts one server per test session (per xdist worker) on a free port and stops it
at the end; `FaultProxy` is a real local HTTP server in front of it that fails chosen requests
(to exercise retries and auth errors) and counts the requests it forwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 600  # loading the model on a busy 2-core machine can take minutes


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServedModel:
    """A running server: where it is and the model name it answers to."""

    base_url: str  # ends in /v1
    model: str
    log: Path


@pytest.fixture(scope="session")
def served_smollm2(tmp_path_factory) -> ServedModel:
    """`transformers serve` pinned to the SmolLM2 checkpoint that multianswer.models.loading builds offline."""
    for module in ("fastapi", "uvicorn", "openai"):
        pytest.importorskip(module, reason="`transformers serve` needs the dev extra (fastapi, uvicorn, openai)")
    from multianswer.models.loading import model_path

    path = model_path("smollm2")
    port = free_port()
    log = tmp_path_factory.mktemp("served") / "server.log"
    env = os.environ | {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "OMP_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", path, "--host", "127.0.0.1",
               "--port", str(port), "--device", "cpu", "--dtype", "float32"]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/health", server, log)
        yield ServedModel(f"http://127.0.0.1:{port}/v1", path, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"transformers serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"transformers serve did not answer {url} within {STARTUP_TIMEOUT_S} s")


@dataclass
class FaultProxy:
    """A real HTTP server that forwards POSTs, except that it answers `fail_first` of them with `status`
    (those after the first `pass_first`)."""

    upstream: str  # e.g. http://127.0.0.1:8000 (no path)
    fail_first: int = 0
    status: int = 503
    pass_first: int = 0
    failed: int = 0
    forwarded: int = 0
    authorization: list = field(default_factory=list)  # the Authorization header of every request

    def __enter__(self) -> FaultProxy:
        proxy, lock = self, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    proxy.authorization.append(self.headers.get("Authorization"))
                    seen = proxy.failed + proxy.forwarded
                    fail = proxy.pass_first <= seen and proxy.failed < proxy.fail_first
                    proxy.failed += fail
                    proxy.forwarded += not fail
                if fail:
                    return self._send(proxy.status, json.dumps({"error": {"message": "injected failure"}}).encode())
                request = urllib.request.Request(proxy.upstream + self.path, data=body,
                                                 headers={"Content-Type": "application/json"}, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=600) as response:
                        self._send(response.status, response.read())
                except urllib.error.HTTPError as err:
                    self._send(err.code, err.read())

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        """The proxy's /v1 URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"


@pytest.fixture
def proxy(served_smollm2):
    """A FaultProxy in front of the served SmolLM2 that fails nothing (tests set `fail_first`)."""
    with FaultProxy(served_smollm2.base_url.removesuffix("/v1")) as p:
        yield p
