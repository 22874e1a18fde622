import csv
import gzip
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from multianswer.core.errors import UserError
from multianswer.tasks.sources import as_list, read_records, resolve_local, write_jsonl_atomic

ROWS = [{"id": "1", "question": "Q1?", "answers": ["a"]}, {"id": "2", "question": "Q2?", "answers": ["b", "c"]}]
UPSTREAM = {"train": "train", "test": "validation"}


def test_every_file_type_reads_the_same_rows(tmp_path):
    jsonl = tmp_path / "rows.jsonl"
    write_jsonl_atomic(jsonl, ROWS)
    (tmp_path / "rows.json").write_text(json.dumps(ROWS))
    with gzip.open(tmp_path / "rows.jsonl.gz", "wt") as f:
        f.write(jsonl.read_text())
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "rows.parquet")
    for name in ("rows.jsonl", "rows.json", "rows.jsonl.gz", "rows.parquet"):
        assert list(read_records(tmp_path / name)) == ROWS, name
    with (tmp_path / "rows.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "question", "answers"])
        writer.writeheader()
        writer.writerows({**r, "answers": str(r["answers"])} for r in ROWS)
    with zipfile.ZipFile(tmp_path / "rows.zip", "w") as zf:
        zf.write(tmp_path / "rows.csv", "rows")
    for name in ("rows.csv", "rows.zip"):
        rows = list(read_records(tmp_path / name))
        assert [as_list(r["answers"]) for r in rows] == [["a"], ["b", "c"]], name


def test_unreadable_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        list(read_records(tmp_path / "nope.jsonl"))
    (tmp_path / "data.xml").write_text("<a/>")
    with pytest.raises(UserError, match="unsupported file type"):
        list(read_records(tmp_path / "data.xml"))
    (tmp_path / "broken.json").write_text('[{"a": 1},')
    with pytest.raises(UserError, match=r"broken\.json, line 1: not valid JSON"):
        list(read_records(tmp_path / "broken.json"))


def test_as_list_reads_csv_text():
    assert as_list("['E_48', 'E_54_@_V_161']") == ["E_48", "E_54_@_V_161"]
    assert as_list('[["URTI", 0.5]]') == [["URTI", 0.5]]
    assert as_list("") == [] and as_list(None) == [] and as_list("plain") == ["plain"]


def test_resolve_local_rules(tmp_path, monkeypatch):
    train, dev = tmp_path / "hotpot_train.json", tmp_path / "hotpot_dev.json"
    for path in (train, dev):
        path.write_text("[]")
    plain = tmp_path / "mine.jsonl"
    plain.write_text("")
    monkeypatch.delenv("MULTIANSWER_DATA", raising=False)
    assert resolve_local("t", "", UPSTREAM) is None  # nothing given: the hub
    assert resolve_local("t", str(tmp_path), UPSTREAM) == {"train": train, "test": dev}  # a folder
    assert resolve_local("t", str(dev), UPSTREAM) == {"test": dev}  # a file that names its split
    assert resolve_local("t", str(plain), UPSTREAM) == {"train": plain, "test": plain}  # serves every split
    assert resolve_local("t", f"train={dev},test={train}", UPSTREAM) == {"train": dev, "test": train}
    root = tmp_path / "root"
    (root / "t").mkdir(parents=True)
    (root / "t" / "validation.jsonl").write_text("")
    monkeypatch.setenv("MULTIANSWER_DATA", str(root))
    assert resolve_local("t", "", UPSTREAM) == {"test": root / "t" / "validation.jsonl"}
    with pytest.raises(UserError, match="unknown split 'dev'"):
        resolve_local("t", f"dev={dev}", UPSTREAM)
    with pytest.raises(UserError, match="not found"):
        resolve_local("t", f"train={tmp_path / 'missing.json'}", UPSTREAM)
    with pytest.raises(UserError, match="data path not found"):
        resolve_local("t", str(tmp_path / "missing"), UPSTREAM)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "deep" / "out.jsonl"

    def rows():
        yield {"a": 1}
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_jsonl_atomic(target, rows())
    assert list(target.parent.iterdir()) == []
    write_jsonl_atomic(target, [{"a": 1}])
    assert target.read_text() == '{"a": 1}\n' and list(target.parent.iterdir()) == [target]
