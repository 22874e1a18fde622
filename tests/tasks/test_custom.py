import json
from pathlib import Path

import pytest

from multianswer.core.errors import UserError
from multianswer.core.matching import get_verifier
from multianswer.tasks import custom, get_task

FIXTURES = Path(__file__).parents[1] / "fixtures"
CUSTOM = FIXTURES / "custom_qa.jsonl"


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_fixture_splits_and_gold():
    task = get_task(f"jsonl:{CUSTOM}")
    assert task.splits == ("train", "test") and task.sizes() == {"train": 3, "test": 3}
    train = task.examples("train")
    assert [e.id for e in train] == ["custom_qa-1", "olympics-jp", "custom_qa-4"]
    assert train[1].answers == [["Tokyo", "Tōkyō"], ["Sapporo"], ["Nagano"]]
    assert [e.problem for e in task.examples("test")] == [
        "Name a primary colour.", "Name a city in Japan that hosted the Olympics.", "What is 2 + 2?"]
    arithmetic = task.examples("test")[2]
    assert arithmetic.answers == ["4"] and arithmetic.metadata == {"kind": "arithmetic"}
    assert get_verifier(arithmetic.verifier)(["four", "4.0"], arithmetic.answers) == [False, True]


def test_jsonl_field_mapping(tmp_path):
    data = write_lines(tmp_path / "qa.jsonl", [
        json.dumps({"q": "Name an even prime.", "gold": ["2"], "key": "a"}),
        json.dumps({"q": "Name a vowel.", "gold": [["a"], ["e"], ["i"], ["o"], ["u"]], "key": "b"}),
    ])
    task = get_task(f"jsonl:{data}?question=q&answers=gold&id=key")
    assert [(e.id, e.problem, e.answers) for e in task.examples("test")] == [
        ("a", "Name an even prime.", ["2"]),
        ("b", "Name a vowel.", [["a"], ["e"], ["i"], ["o"], ["u"]]),
    ]


def test_trivia_and_squad_style_answers(tmp_path):
    data = write_lines(tmp_path / "qa.jsonl", [
        json.dumps({"question": "Who wrote Hamlet?", "answers": {"value": "William Shakespeare", "aliases": ["Shakespeare"]}}),
        json.dumps({"question": "Largest planet?", "answers": {"text": ["Jupiter", "jupiter"], "answer_start": [0, 0]}}),
    ])
    examples = get_task(f"jsonl:{data}").examples("train")
    assert [e.answers for e in examples] == [[["William Shakespeare", "Shakespeare"]], [["Jupiter", "jupiter"]]]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"question": "Q?", "answers": ["a"]', r"line 2: not valid JSON"),
        ('{"answers": ["a"]}', r"line 2: field 'question' is missing"),
        ('{"question": "Q?"}', r"line 2: field 'answers' is missing"),
        ('{"question": "Q?", "answers": []}', r"line 2: field 'answers' must be"),
        ('{"question": "Q?", "answers": [{"x": 1}]}', r"line 2: field 'answers' must be"),
        ('["Q?", ["a"]]', r"line 2: expected a JSON object"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, line, message):
    data = write_lines(tmp_path / "bad.jsonl", ['{"question": "ok?", "answers": "ok"}', line])
    with pytest.raises(UserError, match=f"bad.jsonl, {message}"):
        get_task(f"jsonl:{data}")


def test_bad_specs(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        get_task(f"jsonl:{tmp_path / 'missing.jsonl'}")
    with pytest.raises(UserError, match="needs a file"):
        get_task("jsonl:")
    with pytest.raises(UserError, match="unknown option 'colour'"):
        get_task(f"jsonl:{CUSTOM}?colour=red")
    with pytest.raises(UserError, match="needs a data set name"):
        get_task("hf:")
    empty = write_lines(tmp_path / "empty.jsonl", [""])
    with pytest.raises(UserError, match="no rows"):
        get_task(f"jsonl:{empty}")


def test_hf_spec_maps_columns_without_network(monkeypatch):
    calls = []

    def fake_hub(task, name, config, split, local_spec):
        calls.append((name, config, split))
        return [{"query": "Capital of Peru?", "gold": ["Lima"]}, {"query": "Two plus two?", "gold": "4"}]

    monkeypatch.setattr(custom, "load_hub", fake_hub)
    task = get_task("hf:someone/qa?config=small&question=query&answers=gold&test=validation")
    examples = task.examples("test")
    assert calls == [("someone/qa", "small", "validation")]
    assert [(e.problem, e.answers, e.id) for e in examples] == [
        ("Capital of Peru?", ["Lima"], "someone-qa-1"), ("Two plus two?", ["4"], "someone-qa-2")]


def test_hf_offline_error_says_how_to_use_a_local_file(monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("no hub")))
    with pytest.raises(UserError, match=r"hub.*jsonl:/path/to/file\.jsonl"):
        get_task("hf:someone/qa").examples("test")
