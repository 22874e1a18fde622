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
    kind_claims,
    oracle_coverage,
    oracle_ece,
    oracle_rows,
    run_names,
)
from multianswer.evaluation.rundir import load_run


def kind_oracle(task_name: str, k: int, limit: int | None) -> tuple[float, float] | None:
    """(mean oracle coverage@k, oracle ECE) over the evaluated questions, when the task knows their true distributions."""
    from multianswer.tasks import get_task

    examples = get_task(task_name).examples("test", limit)
    probabilities = [ex.metadata.get("probabilities") for ex in examples]
    if not examples or not all(probabilities):
        return None
    coverage = sum(oracle_coverage(p, k) for p in probabilities) / len(probabilities)
    return coverage, oracle_ece([(p, ex.answers[0]) for p, ex in zip(probabilities, examples)], k)


def effect_claims(eval_dir: Path, tasks: Sequence[str], k: int, limit: int | None) -> list[Claim]:
    """Every claim on every kind, from the runs under eval_dir/TASK/RUN."""
    claims: list[Claim] = []
    for task in tasks:
        loaded = {name: load_run(eval_dir / task / name) for name in run_names(k).values()}
        runs = {name: summary for name, (summary, _) in loaded.items()}
        multi_rows = loaded["multi-rlvr"][1]
        share = all_distinct_share([row["metrics"].get("diversity") for row in multi_rows], k)
        oracle = kind_oracle(task, k, limit)
        claims += kind_claims(task, runs, k, share, calibration=oracle is not None)
        if oracle is not None:
            claims += oracle_rows(task, runs, k, *oracle)
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
