import csv
import json
import random
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multianswer.core.errors import UserError
from multianswer.core.matching import get_verifier
from multianswer.tasks import get_task
from multianswer.tasks import paper
from multianswer.tasks.paper import EDITS, ambig_gold, edit_paragraphs

FIXTURES = Path(__file__).parents[1] / "fixtures"
HOTPOT_DEV = FIXTURES / "hotpot_distractor_validation.jsonl"
HOTPOT_TRAIN = FIXTURES / "hotpot_train_v1.1.json"
MATCH = get_verifier("match")


@pytest.fixture
def no_hub(monkeypatch):
    """Offline, and any attempt to reach the hub fails the test's expectations loudly."""
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("MULTIANSWER_DATA", raising=False)

    def refuse(*args, **kwargs):
        raise ConnectionError("test tried to reach the hub")

    monkeypatch.setattr(datasets, "load_dataset", refuse)


# ---------------------------------------------------------------------------- HotPotQA-Modified


def hotpot():
    return get_task(f"hotpotqa-modified:train={HOTPOT_TRAIN},test={HOTPOT_DEV}")


def test_hotpot_loads_both_layouts():
    task = hotpot()
    train, test = task.examples("train"), task.examples("test")
    assert [len(train), len(test)] == [2, 4]
    assert [e.answers for e in test] == [["yes"], ["Chief of Protocol"], ["Animorphs"], ["no"]]
    assert test[0].id == "hotpot-5a8b57f25542995d1e6f1371" and test[0].verifier == "match"
    # the same question in the two layouts gets the same edit and the same text
    assert train[0].problem == test[0].problem and train[0].metadata == test[0].metadata
    assert test[0].problem.startswith("Context:\n\nTitle: ")
    assert test[0].problem.endswith("\n\nQuestion: Were Scott Derrickson and Ed Wood of the same nationality?")


def test_hotpot_drops_exactly_two_paragraphs_of_the_drawn_kind():
    for example in hotpot().examples("test"):
        meta = example.metadata
        dropped, supporting = meta["dropped_titles"], meta["supporting_titles"]
        n_support = sum(t in supporting for t in dropped)
        assert len(dropped) == 2
        assert n_support == {"drop_2_distractors": 0, "drop_1_support_1_distractor": 1, "drop_2_supports": 2}[meta["edit"]]
        for title in dropped:
            assert f"Title: {title}\n" not in example.problem
        rows = [json.loads(line) for line in HOTPOT_DEV.read_text().splitlines()]
        row = next(r for r in rows if f"hotpot-{r['id']}" == example.id)
        for title in set(row["context"]["title"]) - set(dropped):
            assert f"Title: {title}\n" in example.problem


@settings(max_examples=40, deadline=None)
@given(n_support=st.integers(0, 3), n_other=st.integers(0, 8), seed=st.integers(0, 2**32))
def test_edit_recipe_property(n_support, n_other, seed):
    support = [f"S{i}" for i in range(n_support)]
    paragraphs = [(t, [f"{t} text."]) for t in support + [f"D{i}" for i in range(n_other)]]
    random.Random(seed).shuffle(paragraphs)
    edit, kept, dropped = edit_paragraphs(paragraphs, support, random.Random(seed))
    want_support, want_other = {"drop_2_distractors": (0, 2), "drop_1_support_1_distractor": (1, 1), "drop_2_supports": (2, 0)}[edit]
    assert sum(t in support for t in dropped) == min(want_support, n_support)
    assert sum(t not in support for t in dropped) == min(want_other, n_other)
    assert [t for t, _ in kept] == [t for t, _ in paragraphs if t not in dropped]  # order kept


def test_edits_are_drawn_uniformly_and_reproducibly():
    paragraphs = [(t, ["x"]) for t in ["A", "B", "C", "D", "E"]]
    edits = Counter(edit_paragraphs(paragraphs, ["A", "B"], random.Random(f"hotpot/0/{i}"))[0] for i in range(3000))
    assert set(edits) == set(EDITS) and all(abs(n / 3000 - 1 / 3) < 0.04 for n in edits.values())
    again = [edit_paragraphs(paragraphs, ["A", "B"], random.Random(f"hotpot/0/{i}")) for i in range(20)]
    assert again == [edit_paragraphs(paragraphs, ["A", "B"], random.Random(f"hotpot/0/{i}")) for i in range(20)]


def test_hotpot_drops_long_problems_and_caps_the_split(tmp_path, monkeypatch):
    rows = [json.loads(line) for line in HOTPOT_DEV.read_text().splitlines()]
    long_row = json.loads(json.dumps(rows[0]))
    long_row["id"] = "long"
    long_row["context"]["sentences"] = [[s[0] + " filler" * 300] for s in long_row["context"]["sentences"]]
    data = tmp_path / "hotpot_dev.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in [long_row] + rows) + "\n")
    monkeypatch.setattr(paper, "HOTPOT_SIZES", {"train": 20000, "test": 3})
    test = get_task(f"hotpotqa-modified:{data}").examples("test")
    assert [e.id for e in test] == [f"hotpot-{r['id']}" for r in rows[:3]]
    assert all(len(e.problem) <= 6000 for e in test)


def test_hotpot_without_data_says_how_to_pass_a_file(no_hub):
    with pytest.raises(UserError, match=r"hotpotqa-modified:test=/path/to/validation\.jsonl"):
        get_task("hotpotqa-modified").examples("test")


def test_wrong_file_layout_is_a_user_error():
    with pytest.raises(UserError, match=r"ambig_qa_light_validation\.jsonl, row 1: .*'supporting_facts'"):
        get_task(f"hotpotqa-modified:test={FIXTURES / 'ambig_qa_light_validation.jsonl'}").examples("test")


# ---------------------------------------------------------------------------- AmbigQA


def test_ambigqa_original_layout_gold_sets():
    examples = get_task(f"ambigqa:{FIXTURES / 'ambignq_dev_light.json'}").examples("test")
    assert [e.problem for e in examples] == [
        "When did the simpsons first air on television?",
        "Who played the weasley brothers in harry potter?",
        "What is the capital city of australia?",
    ]
    simpsons, weasleys, capital = (e.answers for e in examples)
    assert simpsons == [["April 19, 1987"], ["December 17, 1989", "Dec 17, 1989"]]
    # two annotators: 'Rupert Grint' from both merges into one answer with both spellings
    assert weasleys == [["James Phelps"], ["Oliver Phelps"], ["James and Oliver Phelps"],
                        ["Rupert Grint", "Rupert Alexander Lloyd Grint"]]
    assert capital == [["Canberra"]]
    assert examples[1].metadata["types"] == ["multipleQAs", "multipleQAs"]
    assert len(examples[1].metadata["disambiguated_questions"]) == 5
    assert MATCH(["Rupert Alexander Lloyd Grint", "Dec 17, 1989"], weasleys) == [True, False]


def test_ambigqa_hub_layout_gold_sets():
    examples = get_task(f"ambigqa:test={FIXTURES / 'ambig_qa_light_validation.jsonl'}").examples("test")
    assert [e.answers for e in examples] == [[["France"], ["Germany", "Germany national football team"]], [["8", "eight"]]]
    assert examples[0].metadata["types"] == ["multipleQAs", "singleAnswer"]


def test_ambig_gold_merges_groups_that_share_an_alias():
    records = [{"type": "singleAnswer", "answer": ["NYC"]},
               {"type": "multipleQAs", "qaPairs": [{"question": "q1", "answer": ["New York City", "nyc"]},
                                                   {"question": "q2", "answer": ["Paris"]}]}]
    assert ambig_gold(records) == ([["NYC", "New York City", "nyc"], ["Paris"]], ["q1", "q2"])


def test_ambigqa_hub_error_is_clear(no_hub):
    with pytest.raises(UserError, match="pass a local file instead"):
        get_task("ambigqa").examples("train")


# ---------------------------------------------------------------------------- DDXPlus


def test_ddxplus_raw_release_decoded():
    task = get_task(f"ddxplus-raw:{FIXTURES / 'ddxplus'}")
    assert [len(task.examples(s)) for s in ("train", "validation", "test")] == [2, 1, 3]
    first = task.examples("test")[0]
    assert first.problem == (
        "Patient: 18-year-old male.\n"
        "Reason for consulting: Do you have a fever (either felt or measured with a thermometer)? Yes\n"
        "Symptoms:\n"
        "- Do you have pain somewhere, related to your reason for consulting? Yes\n"
        "- Characterize your pain: sensitive, heavy\n"
        "- Do you feel pain somewhere? forehead, cheek(R)\n"
        "- How intense is the pain? 4\n"
        "- Do you have a cough that produces colored or more abundant sputum than usual? Yes\n"
        "Medical history:\n"
        "- Do you smoke cigarettes? Yes\n"
        "- Have you traveled out of the country in the last 4 weeks? N\n"
        "\nWhat is the most likely diagnosis?"
    )
    assert first.answers == [["URTI"]]
    assert first.metadata["differential"][0] == ["Bronchitis", 0.19171203430383882]
    assert [e.answers for e in task.examples("test")] == [[["URTI"]], [["Pneumonia"]], [["Bronchitis"]]]
    assert "Bronchitis; Pneumonia; URTI" in task.instruction
    assert len(task.examples("test", limit=2)) == 2


def test_ddxplus_raw_french_names_zip_and_explicit_files(tmp_path):
    source = FIXTURES / "ddxplus" / "release_test_patients.csv"
    with source.open(newline="") as f:
        rows = list(csv.DictReader(f))
    rows[1]["PATHOLOGY"] = "Pneumonie"  # the French release names pathologies in French
    rows[1]["DIFFERENTIAL_DIAGNOSIS"] = "[['Pneumonie', 0.7], ['Bronchite', 0.3]]"
    patients = tmp_path / "patients.csv"
    with patients.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    zipped = tmp_path / "release_test_patients.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(patients, "release_test_patients")
    spec = (f"ddxplus-raw:test={zipped},evidences={FIXTURES / 'ddxplus' / 'release_evidences.json'},"
            f"conditions={FIXTURES / 'ddxplus' / 'release_conditions.json'}")
    examples = get_task(spec).examples("test")
    assert examples[1].answers == [["Pneumonia", "Pneumonie"]]
    assert examples[1].metadata["differential"] == [["Pneumonia", 0.7], ["Bronchitis", 0.3]]


def test_ddxplus_raw_needs_local_files():
    with pytest.raises(UserError, match="local files only"):
        get_task("ddxplus-raw").examples("test")


def test_ddxplus_processed_columns():
    task = get_task(f"ddxplus:{FIXTURES / 'meddataset_25k_test.jsonl'}")
    examples = task.examples("test")
    assert [e.answers for e in examples] == [["Pneumonia"], ["URTI"], ["Bronchitis", "Acute bronchitis"]]
    assert examples[0].metadata == {"differential": ["Pneumonia", "Bronchitis", "URTI"]}
    assert examples[0].problem.startswith("A 34-year-old woman")
    with pytest.raises(UserError, match="no local file for split 'train'"):
        task.examples("train")


def test_ddxplus_hub_error_is_clear(no_hub):
    with pytest.raises(UserError, match=r"mehuldamani/medDataset_25k.*ddxplus:train=/path/to/train\.jsonl"):
        get_task("ddxplus").examples("train")


# ---------------------------------------------------------------------------- the authors' hub copies


def test_hotpot_authors_copy_reads_problem_and_answer():
    task = get_task(f"hotpotqa-authors:{FIXTURES / 'hotpot_qa_authors_test.jsonl'}")
    examples = task.examples("test")
    assert [e.answers for e in examples] == [["yes"], ["Chief of Protocol"]]
    assert examples[1].problem.endswith("in the film Kiss and Tell?") and examples[1].problem.startswith("Context:")
    assert [e.id for e in examples] == ["hotpotqa-authors-test-0", "hotpotqa-authors-test-1"]
    assert "short span" in task.instruction and task.splits == ("train", "test")


def test_ambig_authors_copy_keeps_every_answer_and_aliases():
    examples = get_task(f"ambigqa-authors:{FIXTURES / 'ambigQA_authors_test.jsonl'}").examples("test")
    assert examples[0].answers == ["April 19, 1987", "December 17, 1989"]
    assert examples[1].answers == [["James Phelps", "James Andrew Eric Phelps"], ["Oliver Phelps"], ["Chris Rankin"]]
    assert examples[2].answers == ["Leonard Cohen"]
    assert MATCH(["Oliver Phelps", "James Andrew Eric Phelps", "Fred"], examples[1].answers) == [True, True, False]


def test_authors_column_precedence(tmp_path):
    """As the reference: the problem from `question` before `problem`, the gold from `answers` before `answer`."""
    path = tmp_path / "test.jsonl"
    rows = [
        {"question": "Q wins", "problem": "P loses", "answers": ["A", "B"], "answer": "C", "id": "x"},
        {"problem": "only P", "answer": "only C"},
        {"question": "", "problem": "empty question falls through", "answers": None, "answer": "C"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    examples = get_task(f"ddxplus:{path}").examples("test")
    assert [(e.problem, e.answers) for e in examples] == [
        ("Q wins", ["A", "B"]), ("only P", ["only C"]), ("empty question falls through", ["C"])]
    assert examples[0].id == "ddxplus-x"


def test_authors_csv_lists_and_missing_columns(tmp_path):
    path = tmp_path / "med_test.csv"
    path.write_text('problem,answer\n"A cough.","[\'Bronchitis\', \'Acute bronchitis\']"\n')
    assert get_task(f"ddxplus:{path}").examples("test")[0].answers == ["Bronchitis", "Acute bronchitis"]
    path.write_text("text,label\nA cough.,Bronchitis\n")
    with pytest.raises(UserError, match=r"med_test\.csv, row 1: .*missing field 'answers or answer'"):
        get_task(f"ddxplus:{path}").examples("test")


@pytest.mark.parametrize("spec, hub", [("hotpotqa-authors", "mehuldamani/hotpot_qa"), ("ambigqa-authors", "mehuldamani/ambigQA")])
def test_authors_hub_offline_error_names_the_copy(no_hub, spec, hub):
    with pytest.raises(UserError, match=rf"{hub}.*{spec}:test=/path/to/test\.jsonl"):
        get_task(spec).examples("test")


def test_authors_copies_load_through_datasets(monkeypatch):
    """The hub path calls datasets.load_dataset with the authors' repository and split (served here by a stub)."""
    import datasets

    calls = []

    def serve(name, config, split):
        calls.append((name, config, split))
        return [{"problem": "Q?", "answer": "yes"}]

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("MULTIANSWER_DATA", raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets, "load_dataset", serve)
    assert get_task("hotpotqa-authors").examples("train")[0].answers == ["yes"]
    assert get_task("ddxplus").examples("test")[0].problem == "Q?"
    assert calls == [("mehuldamani/hotpot_qa", None, "train"), ("mehuldamani/medDataset_25k", None, "test")]
