"""User mistakes: each is one line and exit code 2, before any model is loaded, and creates nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from multianswer.cli import main

REPO = Path(__file__).resolve().parents[2]
EVAL = ["eval", "--model", "tiny", "--task", "procedural-sets"]
TRAIN = ["train", "model=tiny", "task=procedural-sets", "report_to=none"]

# (mistake, arguments, what the line must say); {file} is an existing file, {dir} an empty directory
MISTAKES = [
    ("eval --out is a file", [*EVAL, "--out", "{file}"], "--out {file}: is a file, not a directory"),
    ("eval --out inside a file", [*EVAL, "--out", "{file}/run"], "--out {file}/run: cannot create it, {file} is a file"),
    ("train output_dir is a file", [*TRAIN, "output_dir={file}"], "output_dir {file}: is a file, not a directory"),
    ("eval --k past the context", [*EVAL, "--k", "1000", "--out", "{dir}/run"],
     "--k 1000: the longest prompt is 31,"),
    ("eval --max-new-tokens past the context", [*EVAL, "--max-new-tokens", "5000", "--out", "{dir}/run"],
     "with --max-new-tokens 5000 it does not fit the 4,096-token context of tiny; set --max-new-tokens"),
    ("train k past the context", [*TRAIN, "k=1000", "format_warmup_steps=0", "output_dir={dir}/run"],
     "k 1000: the longest prompt is"),
    ("train k past the context, warm-up on", [*TRAIN, "k=1000", "format_warmup_steps=5", "output_dir={dir}/run"],
     "k 1000: the longest prompt is"),
    ("misspelled option", ["eval", "--modle", "tiny", "--task", "procedural-sets", "--out", "{dir}/run"],
     "unknown option --modle (did you mean --model?)"),
    ("misspelled train option", ["train", "--resmue", "model=tiny"], "unknown option --resmue (did you mean --resume?)"),
    ("hub model offline", ["eval", "--model", "no-org/no-model", "--task", "procedural-sets", "--out", "{dir}/run"],
     "model 'no-org/no-model' is not in the local cache and the Hugging Face hub cannot be reached"),
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache with the tiny model built (its config and tokenizer are read; its weights must not be)."""
    folder = tmp_path_factory.mktemp("cache")
    old = os.environ.get("MULTIANSWER_CACHE")
    os.environ["MULTIANSWER_CACHE"] = str(folder)
    from multianswer.models.loading import model_path

    model_path("tiny")
    yield folder
    if old is None:
        os.environ.pop("MULTIANSWER_CACHE", None)
    else:
        os.environ["MULTIANSWER_CACHE"] = old


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("mistake,argv,says", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_one_line_before_any_model_loads(mistake, argv, says, cache, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants
    from transformers import AutoModelForCausalLM

    def refuse(*args, **kwargs):
        raise AssertionError(f"{mistake}: a model was loaded")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    before = _tree(tmp_path)
    names = {"file": tmp_path / "file", "dir": tmp_path / "dir"}

    assert main([a.format(**names) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says.format(**names) in err, err
    assert _tree(tmp_path) == before


# ---------------------------------------------------------------------------- a read-only output directory


def _run_read_only(folder: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run the CLI with `folder` read-only: a read-only mount as root (root writes through permissions), else 0o555."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "multianswer.cli", *argv]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("as root a read-only directory needs a read-only mount (unshare)")
        cmd = ["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"', str(folder), *cmd]
    else:
        folder.chmod(0o555)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if "mount:" in done.stderr or "unshare:" in done.stderr:
        pytest.skip(f"cannot mount a read-only file system here: {done.stderr.strip()}")
    return done


@pytest.mark.parametrize("inside", ["", "/new"], ids=["existing", "new"])
@pytest.mark.parametrize("command", ["eval", "train"])
def test_read_only_output_dir_is_one_line(command, inside, cache, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    out = f"{folder}{inside}"
    argv = [*EVAL, "--out", out] if command == "eval" else [*TRAIN, f"output_dir={out}"]
    done = _run_read_only(folder, argv)
    option = "--out" if command == "eval" else "output_dir"
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        f"multianswer {command}: error: {option} {out}: {folder} "
        + ("is on a read-only file system" if os.geteuid() == 0 else "is not writable") + "; choose another path"
    ]
    folder.chmod(0o755)
    assert list(folder.iterdir()) == []
