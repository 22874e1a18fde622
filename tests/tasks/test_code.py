import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from multianswer.core.errors import UserError
from multianswer.tasks import get_task
from multianswer.tasks.code import entry_point

FIXTURES = Path(__file__).parents[1] / "fixtures"
MBPP = FIXTURES / "mbpp.jsonl"


def passes(program: str, tests: str) -> bool:
    """Run trusted reference code with its tests (the sandbox is for model-written code)."""
    try:
        exec(compile(program + "\n" + tests, "<reference>", "exec"), {"__name__": "__main__"})
    except Exception:  # a failed assert, or a wrong program that crashes
        return False
    return True


def test_mbpp_local_file_is_split_by_task_id():
    task = get_task(f"mbpp:{MBPP}")
    assert task.verifier == "code" and task.splits == ("train", "validation", "test")
    ids = {split: [e.metadata["task_id"] for e in task.examples(split)] for split in task.splits}
    assert ids == {"train": [601, 602], "validation": [520], "test": [11, 12]}  # task 2 is a few-shot prompt


def test_mbpp_example_fields():
    by_id = {e.metadata["task_id"]: e for s in ("train", "test") for e in get_task(f"mbpp:{MBPP}").examples(s)}
    remove = by_id[11]
    assert remove.id == "mbpp-11" and remove.verifier == "code"
    assert remove.metadata["entry_point"] == "remove_Occ"
    assert remove.answers == ['assert remove_Occ("hello","l") == "heo"\nassert remove_Occ("abcda","a") == "bcd"\n'
                              'assert remove_Occ("PHP","P") == "H"']
    assert remove.problem.startswith("Write a python function to remove first and last occurrence")
    assert "named `remove_Occ`" in remove.problem and 'assert remove_Occ("PHP","P") == "H"' in remove.problem
    assert remove.metadata["challenge_tests"][0] == 'assert remove_Occ("hellolloll","l") == "helollol"'
    # test_setup_code goes first
    assert by_id[602].answers[0].startswith("import re\nassert first_repeated_char(")
    for example in by_id.values():
        assert passes(example.metadata["reference_solution"], example.answers[0])
        assert not passes("def placeholder():\n    pass\n" + f"{example.metadata['entry_point']} = lambda *a: None",
                          example.answers[0])


def test_mbpp_sanitized_parquet(tmp_path):
    rows = [json.loads(line) for line in MBPP.read_text().splitlines()]
    sanitized = [{"source_file": "x", "task_id": r["task_id"], "prompt": r["text"], "code": r["code"],
                  "test_imports": ["import re"] if r["task_id"] == 602 else [], "test_list": r["test_list"]} for r in rows]
    path = tmp_path / "sanitized.parquet"
    pq.write_table(pa.Table.from_pylist(sanitized), path)
    task = get_task(f"mbpp:{path}")
    assert [e.metadata["task_id"] for e in task.examples("train")] == [601, 602]
    assert task.examples("train")[1].answers[0].startswith("import re\n")


def test_entry_point_is_the_function_the_tests_call():
    code = "def helper(x):\n    return x\ndef solve(a):\n    return helper(a)\n"
    assert entry_point(code, ["assert solve(1) == 1"]) == "solve"
    with pytest.raises(UserError):
        entry_point("x = 1", ["assert x == 1"])


def test_humaneval_offline():
    task = get_task("humaneval")
    examples = task.examples("test")
    assert len(examples) == 164 and task.sizes() == {"test": 164}
    assert len({e.id for e in examples}) == 164
    first = examples[0]
    assert first.id == "humaneval-0" and first.verifier == "code"
    assert first.metadata["entry_point"] == "has_close_elements"
    assert first.problem.endswith(first.metadata["prompt"]) and "def has_close_elements(" in first.problem
    assert first.answers[0].rstrip().endswith("check(has_close_elements)")
    assert "complete Python function definition" in task.instruction
    for example in examples[:5]:
        assert passes(example.metadata["reference_solution"], example.answers[0])
        assert not passes(example.metadata["prompt"] + "    return None\n", example.answers[0])


def test_mbpp_hub_error_is_clear(monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("no hub")))
    with pytest.raises(UserError, match=r"mbpp:test=/path/to/test\.jsonl"):
        get_task("mbpp").examples("test")
