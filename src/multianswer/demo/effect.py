"""The demo's verdict: claims computed from its evaluation runs, printed as a ✓/✗ table and saved.

    OUT/claims.json   every claim with its figures and whether it holds (multianswer.evaluation.claims)
    OUT/report.md     the per-kind tables and the claims table
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from multianswer.evaluation.claims import (
    Claim,
    all_distinct_share,
    claims_json,
    claims_table,
    confidence_gap,
    kind_claims,
    oracle_coverage,
    oracle_ece,
    oracle_rows,
    run_names,
)
from multianswer.evaluation.rundir import load_run
from multianswer.tasks.base import Example


def known_distributions(task_name: str, limit: int | None) -> list[Example] | None:
    """The evaluated questions, when the task knows each one's true answer distribution (else None)."""
    from multianswer.tasks import get_task

    examples = get_task(task_name).examples("test", limit)
    return examples if examples and all(ex.metadata.get("probabilities") for ex in examples) else None


def kind_oracle(examples: Sequence[Example], k: int) -> tuple[float, float]:
    """(mean oracle coverage@k, oracle ECE) over questions with known distributions."""
    probabilities = [ex.metadata["probabilities"] for ex in examples]
    coverage = sum(oracle_coverage(p, k) for p in probabilities) / len(probabilities)
    return coverage, oracle_ece([(p, ex.answers[0]) for p, ex in zip(probabilities, examples)], k)


def stated_gap(rows: Sequence[dict], truth: dict[str, dict[str, float]]) -> float | None:
    """`confidence_gap` of a run's rows: every stated confidence of a well-formed answer set against the truth."""
    sets = [(c["answers"], c["confidences"], truth[row["id"]])
            for row in rows if row["id"] in truth for c in row["completions"] if c["format_ok"] and c["confidences"]]
    return confidence_gap(sets)


def effect_claims(eval_dir: Path, tasks: Sequence[str], k: int, limit: int | None) -> list[Claim]:
    """Every claim on every kind, from the runs under eval_dir/TASK/RUN."""
    claims: list[Claim] = []
    for task in tasks:
        loaded = {name: load_run(eval_dir / task / name) for name in run_names(k).values()}
        runs = {name: summary for name, (summary, _) in loaded.items()}
        multi_rows = loaded["multi-rlvr"][1]
        share = all_distinct_share([row["metrics"].get("diversity") for row in multi_rows], k)
        known = known_distributions(task, limit)
        claims += kind_claims(task, runs, k, share, calibration=known is not None)
        if known is not None:
            truth = {ex.id: ex.metadata["probabilities"] for ex in known}
            gaps = {role: stated_gap(loaded[run_names(k)[role]][1], truth) for role in ("base_conf", "multi_rlcr")}
            claims += oracle_rows(task, runs, k, *kind_oracle(known, k), gaps=gaps)
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
