"""The OpenAI-compatible backend against a real `transformers serve` on SmolLM2 (fixtures in tests/generation/conftest.py).

Requests are counted by a real proxy in front of the server (FaultProxy); nothing here mocks HTTP.
Generations are a few tokens long, so each test takes seconds even on a busy CPU.
"""

from __future__ import annotations

import json
import socket

import pytest

from multianswer.cli import main
from multianswer.core.errors import UserError
from multianswer.evaluation.compare import comparison
from multianswer.generation.answers import generate_answers
from multianswer.generation.backends import SamplingArgs, make_backend
from multianswer.generation.openai import ChatClient, OpenAIBackend, ServerError, ServerSettings

pytestmark = pytest.mark.slow
QUESTIONS = [
    {"id": "q1", "question": "What is the capital of France?", "answers": ["Paris"]},
    {"id": "q2", "question": "Name a primary colour.", "answers": ["red", "blue", "yellow"]},
    {"id": "q3", "question": "What is 2 + 2?", "answers": ["4"]},
]


@pytest.fixture
def task(tmp_path) -> str:
    """A three-question jsonl task."""
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return f"jsonl:{path}"


def eval_argv(served, base_url: str, task: str, out, *extra: str) -> list[str]:
    """`multianswer eval` of the served model: few tokens, small bootstrap, no report."""
    return ["eval", "--model", served.model, "--backend", "openai", "--base-url", base_url, "--task", task,
            "--out", str(out), "--max-new-tokens", "12", "--bootstrap", "20", "--no-report", *extra]


def rows_of(out) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_eval_counts_usage_tokens_and_resumes_without_asking_again(served_smollm2, proxy, task, tmp_path, capsys):
    out = tmp_path / "run"
    # single format, 2 samples per question: one request per sample, plus the one-token check
    argv = eval_argv(served_smollm2, proxy.base_url, task, out, "--format", "single", "--k", "2", "--concurrency", "3")
    assert main(argv + ["--limit", "2"]) == 0
    assert proxy.forwarded == 1 + 2 * 2
    first = rows_of(out)
    assert main(argv) == 0  # the resumed run asks only for the third question
    assert proxy.forwarded == 1 + 2 * 2 + 1 + 2
    rows = rows_of(out)
    assert rows[:2] == first and sorted(r["id"] for r in rows) == ["q1", "q2", "q3"]
    for row in rows:
        tokens = [c["n_tokens"] for c in row["completions"]]
        assert len(tokens) == 2 and all(1 <= t <= 12 for t in tokens)  # the server's usage, capped by max_tokens
        assert row["tokens"] == sum(tokens)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "openai" and summary["n_questions"] == 3
    mean_tokens = sum(c["n_tokens"] for r in rows for c in r["completions"]) / 6
    assert summary["tokens_per_completion"] == pytest.approx(mean_tokens)
    _, table, _ = comparison([out])  # compare shows the served run like any other, with its backend
    assert dict(table)["backend"] == ["openai"] and dict(table)["model"] == [served_smollm2.model]


def test_a_server_gone_mid_run_stops_with_one_line_and_the_run_resumes(served_smollm2, proxy, task, tmp_path, capsys):
    out = tmp_path / "run"
    argv = eval_argv(served_smollm2, proxy.base_url, task, out, "--temperature", "0", "--concurrency", "1", "--retries", "0")
    proxy.pass_first, proxy.fail_first = 2, 100  # the check and the first question pass, then the server fails
    assert main(argv) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("multianswer eval: error: no completion from") and "HTTP 503" in last
    assert last.endswith("run again to resume")
    assert [r["id"] for r in rows_of(out)] == ["q1"]
    proxy.fail_first = 0
    assert main(argv) == 0 and sorted(r["id"] for r in rows_of(out)) == ["q1", "q2", "q3"]


def test_generate_command_answers_through_the_server(served_smollm2, proxy, capsys):
    code = main(["generate", "--model", served_smollm2.model, "--backend", "openai", "--base-url", proxy.base_url,
                 "--k", "2", "--max-new-tokens", "8", "What is the capital of France?"])
    assert code == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["question"] == "What is the capital of France?" and 1 <= result["n_tokens"] <= 8
    assert proxy.forwarded == 2  # the check and one greedy multi-answer generation


def test_greedy_samples_are_asked_once_and_repeated(served_smollm2, proxy):
    backend = make_backend(served_smollm2.model, "openai", base_url=proxy.base_url, progress=False)
    prompts = [[{"role": "user", "content": "Say hello."}], [{"role": "user", "content": "Say bye."}]]
    got = dict(backend.stream(prompts, SamplingArgs(n=3, temperature=0.0, max_new_tokens=4)))
    assert sorted(got) == [0, 1] and all(len(set(cs)) == 1 and len(cs) == 3 for cs in got.values())
    assert proxy.forwarded == 1 + 2


def test_retries_server_errors_with_backoff(served_smollm2, proxy):
    proxy.fail_first, proxy.status = 2, 503
    client = ChatClient(ServerSettings(proxy.base_url, served_smollm2.model, retries=2), backoff_s=0.01)
    completion = client.complete([{"role": "user", "content": "Hi"}], max_tokens=3)
    assert (proxy.failed, proxy.forwarded) == (2, 1) and 1 <= completion.n_tokens <= 3


def test_gives_up_after_the_last_retry_with_the_servers_reason(served_smollm2, proxy):
    proxy.fail_first, proxy.status = 10, 429
    client = ChatClient(ServerSettings(proxy.base_url, served_smollm2.model, retries=1), backoff_s=0.01)
    with pytest.raises(ServerError, match=r"in 2 tries: HTTP 429: injected failure"):
        client.complete([{"role": "user", "content": "Hi"}], max_tokens=3)
    assert (proxy.failed, proxy.forwarded) == (2, 0)


def test_wrong_model_name_is_one_line_before_generating(served_smollm2, capsys):
    code = main(["generate", "--model", "no-such-model", "--backend", "openai", "--base-url",
                 served_smollm2.base_url, "What?"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "no-such-model" in err and "HTTP 400" in err


def test_unreachable_server_is_one_line(capsys):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["generate", "--model", "m", "--backend", "openai", "--base-url", f"http://127.0.0.1:{port}/v1",
                 "--retries", "0", "What?"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Connection refused" in err


def test_api_key_comes_from_the_environment_and_never_shows(served_smollm2, proxy, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-key")
    monkeypatch.setenv("MULTIANSWER_API_KEY", "sk-secret-123")  # takes precedence
    proxy.fail_first, proxy.status = 10, 401
    with pytest.raises(ServerError) as caught:
        OpenAIBackend.connect(served_smollm2.model, base_url=proxy.base_url)
    message = str(caught.value)
    assert "HTTP 401" in message and "MULTIANSWER_API_KEY" in message and "sk-secret" not in message
    assert proxy.authorization == ["Bearer sk-secret-123"]  # auth failures are not retried
    assert "sk-secret" not in repr(ChatClient(ServerSettings(proxy.base_url, "m")))


def test_settings_are_checked_before_any_request():
    with pytest.raises(UserError, match="--base-url must start with http"):
        ServerSettings("localhost:8000/v1", "m")
    with pytest.raises(UserError, match="--concurrency"):
        ServerSettings("http://localhost:8000/v1", "m", concurrency=0)
    with pytest.raises(UserError, match="needs --base-url"):
        generate_answers("m", ["q"], backend="openai")
