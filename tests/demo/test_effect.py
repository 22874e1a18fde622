"""The demo's claims from its run directories: which claims each kind gets, and the figures read from the rows."""

import json

import pytest

from multianswer.core.metrics import expected_calibration_error
from multianswer.demo.effect import drawn_golds, effect_claims
from multianswer.evaluation.claims import GOLD_DRAWS, oracle_ece, run_names
from multianswer.tasks import get_task

K, LIMIT = 3, 4
FORMATS = {"base": "single", "base_conf": "multi-conf", "rlvr": "single", "multi_rlvr": "multi", "multi_rlcr": "multi-conf"}
# per question (of 4): coverage of the two K-answer runs that a.training pairs
COVERAGE = {"multi_rlvr": [1.0, 1.0, 1.0, 0.0], "base_conf": [0.0, 1.0, 0.0, 0.0]}
# per question: distinct correct answers of the two runs that a.recall pairs (differences 2, 1, 2, 1)
RECALL = {"multi_rlvr": [3, 2, 3, 1], "rlvr": [1, 1, 1, 0]}


def _top(example) -> tuple[str, float]:
    p = example.metadata.get("probabilities") or example.metadata["weights"]
    best = max(p, key=p.get)
    return best, p[best]


def _write_runs(eval_dir, task: str) -> list:
    """Five run directories of `task`'s first LIMIT test questions; each K-answer run states the top answer only:
    base-multi-conf 0.2 above its true probability, multi-rlcr exactly it."""
    examples = get_task(task).examples("test", LIMIT)
    for role, name in run_names(K).items():
        rows = []
        for i, ex in enumerate(examples):
            answer, p = _top(ex)
            stated = {"base_conf": [p + 0.2], "multi_rlcr": [p]}.get(role)
            coverage = COVERAGE.get(role, [1.0] * LIMIT)[i]
            completion = {"answers": [answer], "confidences": stated, "correct": [coverage == 1.0], "format_ok": True}
            rows.append({"index": i, "id": ex.id, "gold": ex.answers, "completions": [completion],
                         "metrics": {"coverage": coverage, "diversity": 3, "distinct_correct": RECALL.get(role, [1] * LIMIT)[i]}})
        run = eval_dir / task / name
        run.mkdir(parents=True)
        (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        summary = {"format": FORMATS[role], "coverage": 0.5, "pass@3": 0.5, "distinct_correct": 1.0 + (role == "multi_rlvr"),
                   "diversity": 2.0, "tokens_per_question": 10.0, "ece": 0.1, "set_brier": 0.5}
        (run / "summary.json").write_text(json.dumps(summary))
    return examples


def test_each_kind_gets_its_claims_with_figures_read_from_the_rows(tmp_path):
    _write_runs(tmp_path, "world-sets")
    cases = _write_runs(tmp_path, "world-cases")
    claims = {(c.kind, c.id): c for c in effect_claims(tmp_path, ["world-sets", "world-cases"], K, LIMIT)}
    ids = {kind: [cid for (k, cid) in claims if k == kind] for kind in ("world-sets", "world-cases")}
    # several valid answers (world-sets golds list 3-5): recall; known distributions (world-cases): gap, ECE over draws
    assert "a.recall" in ids["world-sets"] and "a.recall" not in ids["world-cases"]
    assert "c.ece" not in ids["world-cases"] and {"c.gap", "c.ece10", "c.ece_vs_base", "d.oracle_ece"} <= set(ids["world-cases"])
    assert not {"c.gap", "c.ece10", "c.ece_vs_base"} & set(ids["world-sets"])
    recall = claims["world-sets", "a.recall"]
    assert (recall.value, recall.reference, recall.holds) == (pytest.approx(1.5), 0.0, True)
    assert 1.0 <= recall.interval[0] <= recall.interval[1] <= 2.0
    for kind in ("world-sets", "world-cases"):  # paired differences 1, 0, 1, 0: mean 0.5
        training = claims[kind, "a.training"]
        assert training.value == pytest.approx(0.5) and training.interval[0] <= 0.5 <= training.interval[1]
    gap = claims["world-cases", "c.gap"]  # multi-rlcr states the truth; the base is 0.2 off: bound min(0.1, 0.12)
    assert gap.value == pytest.approx(0.0) and gap.reference == pytest.approx(0.10) and gap.holds is True
    assert claims["world-cases", "d.gap.base_conf"].value == pytest.approx(0.2)
    # c.ece10: each stated (p, top answer) against the 10 golds drawn for its question
    golds = drawn_golds(cases)
    pairs = [(_top(ex)[1], gold == _top(ex)[0]) for ex in cases for gold in golds[ex.id]]
    assert claims["world-cases", "c.ece10"].value == pytest.approx(expected_calibration_error(*zip(*pairs)))
    floor = oracle_ece([(ex.metadata["probabilities"], g) for ex in cases for g in golds[ex.id]], K)
    assert claims["world-cases", "d.oracle_ece"].value == pytest.approx(floor)


def test_the_drawn_golds_are_fixed_and_follow_the_true_distribution():
    cases = get_task("world-cases").examples("test")
    golds = drawn_golds(cases)
    assert golds == drawn_golds(cases) and all(len(g) == GOLD_DRAWS for g in golds.values())
    # over 100 questions x 10 draws, the most likely illness comes up about as often as its mean probability
    top = [max(ex.metadata["probabilities"], key=ex.metadata["probabilities"].get) for ex in cases]
    hits = sum(g == t for ex, t in zip(cases, top) for g in golds[ex.id]) / (len(cases) * GOLD_DRAWS)
    expected = sum(max(ex.metadata["probabilities"].values()) for ex in cases) / len(cases)
    assert abs(hits - expected) < 0.05
    assert any(len(set(g)) > 1 for g in golds.values())  # independent draws, not one gold repeated
