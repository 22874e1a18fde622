"""Fixtures shared by the test folders (each folder mirrors a layer of the package)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny():
    """The built-in tiny model and its tokenizer on CPU, loaded once per test process (read-only use)."""
    from multianswer.models.loading import load_model

    return load_model("tiny", device="cpu")


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A fresh, empty $MULTIANSWER_CACHE for one test (built data sets and models land there)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MULTIANSWER_CACHE", str(folder))
    return folder
