"""A served model as a generation backend: any OpenAI-compatible chat-completions server.

vLLM serve, TGI, llama.cpp's server, `transformers serve` and hosted APIs all answer
POST {base_url}/chat/completions. This module talks to them with the standard library only:

    ChatClient     one request with a timeout, retried with exponential backoff on 429, 5xx and
                   connection errors; `check()` asks for one token first, so a wrong URL, model
                   name or key is one clear line before any generation starts.
    OpenAIBackend  the Backend interface of generation.backends over a ChatClient: one request
                   per (prompt, sample) from a thread pool, a prompt yielded as soon as its samples
                   are all back (so the eval runner writes it and a killed run resumes from there).

One request per sample (never the API's `n`) because several servers ignore `n`; each carries a
seed derived from the prompt's seed and the sample index, which servers that honour `seed` use.
Token counts are the server's own `usage.completion_tokens`.

The API key comes from the environment only (MULTIANSWER_API_KEY, else OPENAI_API_KEY), is sent
as a bearer token, and never appears in an error message or a log.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from multianswer.core.errors import UserError
from multianswer.generation.base import BackendBase, Completion, Messages, SamplingArgs, derive_seed, prompt_seeds

API_KEY_VARIABLES = ("MULTIANSWER_API_KEY", "OPENAI_API_KEY")  # the first one set wins
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


class ServerError(UserError):
    """A server that cannot be used (unreachable, refusing the key or model, failing after retries)."""


def api_key() -> str | None:
    """The API key from the environment (MULTIANSWER_API_KEY, else OPENAI_API_KEY), or None."""
    return next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)


@dataclass(frozen=True)
class ServerSettings:
    """Where and how to reach an OpenAI-compatible server (the CLI options of the same names)."""

    base_url: str  # e.g. http://localhost:8000/v1 (the part before /chat/completions)
    model: str  # the model name the server knows
    concurrency: int = 8  # requests in flight at once
    request_timeout: float = 300.0  # seconds one request may take before it is retried
    retries: int = 5  # further tries after a failed request (429, 5xx, connection errors)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise UserError(f"--base-url must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise UserError("--model must name the model the server serves")
        if self.concurrency < 1 or self.request_timeout <= 0 or self.retries < 0:
            raise UserError("need --concurrency >= 1, --request-timeout > 0 and --retries >= 0, got "
                            f"{self.concurrency}, {self.request_timeout}, {self.retries}")


class ChatClient:
    """Chat completions from one server and model, with timeouts and retries."""

    def __init__(self, settings: ServerSettings, backoff_s: float = 1.0):
        self.settings, self.backoff_s = settings, backoff_s
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self._key = api_key()  # read once; kept out of repr, errors and logs

    def __repr__(self) -> str:
        return f"ChatClient({self.url!r}, model={self.settings.model!r})"

    def complete(self, messages: Messages, max_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
                 seed: int | None = None, retries: int | None = None) -> Completion:
        """One completion of `messages`: its text and the server's count of generated tokens."""
        body: dict[str, Any] = {"model": self.settings.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": temperature, "top_p": top_p, "n": 1, "stream": False}
        if seed is not None:
            body["seed"] = seed % 2**31  # some servers take only 32-bit seeds
        reply = self._post(body, self.settings.retries if retries is None else retries)
        try:
            text = reply["choices"][0]["message"]["content"] or ""
            n_tokens = int(reply["usage"]["completion_tokens"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise ServerError(f"{self.url} answered without choices[0].message.content and "
                              f"usage.completion_tokens: {json.dumps(reply)[:200]}") from None
        return Completion(text, n_tokens)

    def check(self) -> None:
        """Ask for one token, so that a wrong URL, model name or key fails before any generation."""
        # one retry at most: a server that is down should be reported now, not after minutes of backoff
        self.complete([{"role": "user", "content": "Say OK."}], max_tokens=1, retries=min(self.settings.retries, 1))

    def _post(self, body: dict, retries: int) -> dict:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        for attempt in range(retries + 1):
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.settings.request_timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                detail = _error_detail(err)
                if err.code in (401, 403):
                    raise ServerError(f"{self.url} refused the request (HTTP {err.code}: {detail}); set "
                                      f"{' or '.join(API_KEY_VARIABLES)} to a key it accepts") from None
                if err.code not in RETRY_STATUS:
                    raise ServerError(f"{self.url} rejected a request for model {self.settings.model!r} "
                                      f"(HTTP {err.code}: {detail})") from None
                failure, wait_s = f"HTTP {err.code}: {detail}", _retry_after(err)
            except (OSError, http.client.HTTPException, ValueError) as err:  # refused, reset, timed out, bad JSON
                failure, wait_s = f"{getattr(err, 'reason', None) or err!s} (no HTTP answer)", None
            if attempt == retries:
                tries = f"{retries + 1} tries" if retries else "1 try"
                raise ServerError(f"no completion from {self.url} for model {self.settings.model!r} in {tries}: {failure}")
            time.sleep(wait_s if wait_s is not None else self._backoff(attempt))
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        # exponential with jitter, so that many threads refused at once do not return at once
        return min(MAX_BACKOFF_S, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)


def _error_detail(err: urllib.error.HTTPError) -> str:
    """The server's own one-line reason for an HTTP error, shortened."""
    try:
        body = err.read().decode(errors="replace")
    except OSError:
        body = ""
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            inner = parsed.get("error", parsed.get("detail", parsed))
            body = inner.get("message", str(inner)) if isinstance(inner, dict) else str(inner)
    except ValueError:
        pass
    return " ".join(body.split())[:200] or err.reason or "no detail"


def _retry_after(err: urllib.error.HTTPError) -> float | None:
    """The server's Retry-After in seconds (capped), when it sent a number."""
    try:
        return min(MAX_BACKOFF_S, float(err.headers.get("Retry-After", "")))
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- the backend

class OpenAIBackend(BackendBase):
    """Generation on an OpenAI-compatible server: concurrent requests, prompts yielded as they finish."""

    name = "openai"

    def __init__(self, client: ChatClient, progress: bool = True):
        self.client, self.progress = client, progress

    @classmethod
    def connect(cls, model: str, base_url: str | None = None, concurrency: int = 8, request_timeout: float = 300.0,
                retries: int = 5, progress: bool = True) -> OpenAIBackend:
        """A checked backend for `model` on the server at `base_url` (raises ServerError if unusable)."""
        if not base_url:
            raise UserError("--backend openai needs --base-url (e.g. http://localhost:8000/v1)")
        client = ChatClient(ServerSettings(base_url, str(model), concurrency, request_timeout, retries))
        client.check()
        return cls(client, progress)

    def count_tokens(self, text: str) -> int:
        """Not available: the server's tokenizer is not here (completions carry the server's own counts)."""
        raise NotImplementedError("a served model's tokenizer is not available locally")

    def stream(self, prompts: Sequence[Messages], args: SamplingArgs, seed: int | Sequence[int] = 0):
        """Yield (prompt index, its n completions) as soon as all of a prompt's requests are back."""
        from tqdm.auto import tqdm

        seeds = prompt_seeds(seed, len(prompts))
        copies = 1 if args.greedy else args.n  # greedy samples are all the same: ask once, repeat
        results: dict[int, list[Completion | None]] = {i: [None] * copies for i in range(len(prompts))}
        pool = ThreadPoolExecutor(self.client.settings.concurrency, thread_name_prefix="openai")
        bar = tqdm(total=len(prompts), desc="generating", unit="prompt", disable=not self.progress)
        try:
            pending: dict[Future, tuple[int, int]] = {
                pool.submit(self.client.complete, prompts[i], args.max_new_tokens, args.temperature, args.top_p,
                            derive_seed(seeds[i], j)): (i, j)
                for i in range(len(prompts)) for j in range(copies)
            }
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                # finished prompts first: a failure that lands in the same wait must not lose them
                for future in sorted(done, key=lambda f: f.exception() is not None):
                    i, j = pending.pop(future)
                    results[i][j] = future.result()  # a request that failed for good stops the run here
                    if all(c is not None for c in results[i]):
                        got = results.pop(i)
                        bar.update(1)
                        yield i, (got * args.n if copies == 1 else got)  # type: ignore[operator]
        finally:
            bar.close()
            pool.shutdown(wait=False, cancel_futures=True)  # a stopped run sends no more requests


# ---------------------------------------------------------------------------- CLI options

def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The options of `--backend openai` (the model name is --model)."""
    group = parser.add_argument_group("served model (--backend openai)")
    group.add_argument("--base-url", dest="base_url", default=None,
                       help="OpenAI-compatible server, up to /v1 (e.g. http://localhost:8000/v1); "
                            f"the API key is read from {' or '.join(API_KEY_VARIABLES)}")
    group.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    group.add_argument("--request-timeout", dest="request_timeout", type=float, default=300.0,
                       help="seconds one request may take before it is retried")
    group.add_argument("--retries", type=int, default=5,
                       help="further tries of a request after HTTP 429, 5xx or a connection error (exponential backoff)")


def server_options(args: Any) -> dict:
    """The keyword arguments of `OpenAIBackend.connect` found on `args` (a Namespace or EvalArgs)."""
    return {key: getattr(args, key) for key in ("base_url", "concurrency", "request_timeout", "retries")
            if getattr(args, key, None) is not None}
