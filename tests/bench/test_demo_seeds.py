"""bench/demo_seeds.py: the seeds' claims gathered into one table, intervals included."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("demo_seeds", ROOT / "bench" / "demo_seeds.py")
seeds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seeds)


def _claim(cid, value, reference, holds, interval=None):
    return {"id": cid, "kind": "world-cases", "statement": f"{cid} statement", "value": value, "reference": reference,
            "holds": holds, "interval": interval}


def test_seeds_table_gathers_figures_intervals_and_verdicts(tmp_path):
    per_seed = {}
    for seed, (mean, low, high, gap) in enumerate([(0.10, 0.02, 0.18, 0.08), (0.20, 0.04, 0.36, 0.12)]):
        folder = tmp_path / f"seed-{seed}"
        folder.mkdir()
        claims = [_claim("a.training", mean, 0.0, True, [low, high]), _claim("c.gap", gap, 0.1, gap <= 0.1),
                  _claim("d.oracle", 0.8, None, None)]
        (folder / "claims.json").write_text(json.dumps({"k": 3, "all_hold": False, "claims": claims}))
        per_seed[seed] = seeds.seed_claims(folder)
    table = seeds.seeds_table(per_seed).splitlines()
    # a.training: mean ± sd of the difference, and of each end of its interval, over the two seeds
    assert table[2] == ("| a.training statement | world-cases | 0.150 ± 0.071 (95% interval: 0.030 ± 0.014 to 0.270 ± 0.127)"
                        " | 0.000 ± 0.000 | 2/2 ✓ every seed |")
    assert table[3] == "| c.gap statement | world-cases | 0.100 ± 0.028 | 0.100 ± 0.000 | 1/2 ✗ |"
    assert table[4].endswith("| (figure) |")
