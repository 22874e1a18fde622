"""The demo's verdict: claims computed from its evaluation runs, printed as a ✓/✗ table and saved.

    OUT/claims.json   every claim with its figures and whether it holds (multianswer.evaluation.claims)
    OUT/report.md     the per-kind tables and the claims table
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from multianswer.evaluation.claims import (
    GOLD_DRAWS,
    Claim,
    KindFigures,
    all_distinct_share,
    claims_json,
    claims_table,
    confidence_gap,
    drawn_gold_ece,
    kind_claims,
    oracle_coverage,
    oracle_ece,
    oracle_rows,
    paired_difference,
    run_names,
    several_valid_answers,
)
from multianswer.evaluation.rundir import load_run
from multianswer.tasks.base import Example
from multianswer.tasks.procedural import fixed_draws


def known_distributions(task_name: str, limit: int | None) -> list[Example] | None:
    """The evaluated questions, when the task knows each one's true answer distribution (else None)."""
    from multianswer.tasks import get_task

    examples = get_task(task_name).examples("test", limit)
    return examples if examples and all(ex.metadata.get("probabilities") for ex in examples) else None


def drawn_golds(examples: Sequence[Example], n: int = GOLD_DRAWS) -> dict[str, list[str]]:
    """Example id -> `n` golds drawn from its true distribution, fixed by the id (the same in every demo seed)."""
    return {ex.id: fixed_draws(ex.metadata["probabilities"], n, f"gold-draws/{ex.id}") for ex in examples}


def kind_oracle(examples: Sequence[Example], k: int, golds: dict[str, list[str]]) -> tuple[float, float]:
    """(mean oracle coverage@k, oracle ECE against each question's drawn `golds`) over questions with known distributions."""
    probabilities = [ex.metadata["probabilities"] for ex in examples]
    coverage = sum(oracle_coverage(p, k) for p in probabilities) / len(probabilities)
    return coverage, oracle_ece([(p, gold) for p, ex in zip(probabilities, examples) for gold in golds[ex.id]], k)


def stated_sets(rows: Sequence[dict], by_id: dict) -> list[tuple[list[str], list[float], object]]:
    """(answers, confidences, by_id[question id]) of every well-formed answer set with confidences in a run's rows."""
    return [(c["answers"], c["confidences"], by_id[row["id"]])
            for row in rows if row["id"] in by_id for c in row["completions"] if c["format_ok"] and c["confidences"]]


def stated_gap(rows: Sequence[dict], truth: dict[str, dict[str, float]]) -> float | None:
    """`confidence_gap` of a run's rows: every stated confidence of a well-formed answer set against the truth."""
    return confidence_gap(stated_sets(rows, truth))


def per_question(rows: Sequence[dict], metric: str) -> dict[str, float | None]:
    """Question id -> one per-question metric of a run's rows."""
    return {row["id"]: row["metrics"].get(metric) for row in rows}


def kind_figures(rows: dict[str, list[dict]], k: int, known: Sequence[Example] | None) -> KindFigures:
    """The figures a kind's claims take from its runs' rows ({role of `run_names`: rows})."""
    multi = rows["multi_rlvr"]
    figures = KindFigures(
        distinct_share=all_distinct_share([row["metrics"].get("diversity") for row in multi], k),
        several_answers=several_valid_answers([row["gold"] for row in multi]),
        coverage_gain=paired_difference(per_question(multi, "coverage"), per_question(rows["base_conf"], "coverage")),
        recall_gain=paired_difference(per_question(multi, "distinct_correct"), per_question(rows["rlvr"], "distinct_correct")),
        calibration=known is not None,
    )
    if known is not None:
        truth = {ex.id: ex.metadata["probabilities"] for ex in known}
        figures.gaps = {role: stated_gap(rows[role], truth) for role in ("base_conf", "multi_rlcr")}
        figures.drawn_ece = drawn_gold_ece(stated_sets(rows["multi_rlcr"], drawn_golds(known)))
    return figures


def effect_claims(eval_dir: Path, tasks: Sequence[str], k: int, limit: int | None) -> list[Claim]:
    """Every claim on every kind, from the runs under eval_dir/TASK/RUN."""
    claims: list[Claim] = []
    for task in tasks:
        claims += runs_claims(task, {role: eval_dir / task / name for role, name in run_names(k).items()}, k, limit)
    return claims


def runs_claims(task: str, run_dirs: dict[str, Path], k: int, limit: int | None) -> list[Claim]:
    """Every claim on one kind, from its five runs' directories ({role of `run_names`: directory})."""
    loaded = {role: load_run(folder) for role, folder in run_dirs.items()}
    runs = {run_names(k)[role]: summary for role, (summary, _) in loaded.items()}
    known = known_distributions(task, limit)
    figures = kind_figures({role: rows for role, (_, rows) in loaded.items()}, k, known)
    claims = kind_claims(task, runs, k, figures)
    if known is not None:
        claims += oracle_rows(task, runs, k, *kind_oracle(known, k, drawn_golds(known)), gaps=figures.gaps)
    return claims


def write_verdict(out: Path, claims: Sequence[Claim], k: int, tables: dict[str, str], header: str) -> str:
    """Write claims.json and report.md under `out`; return the claims table."""
    table = claims_table(claims)
    data = claims_json(claims, k)
    (out / "claims.json").write_text(json.dumps(data, indent=2) + "\n")
    parts = [f"# multianswer demo\n\n{header}\n"]
    parts += [f"## {task}\n\n{t}\n" for task, t in tables.items()]
    verdict = "every claim holds" if data["all_hold"] else "NOT every claim holds"
    parts.append(f"## Claims ({verdict})\n\n{table}\n")
    (out / "report.md").write_text("\n".join(parts))
    return table
