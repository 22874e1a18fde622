"""bench/calibration_tries.py: how a try's overrides reach the demo's preset, and a missing base."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("calibration_tries", ROOT / "bench" / "calibration_tries.py")
calibration_tries = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration_tries)


def test_a_demo_folder_without_a_base_is_a_clear_error(tmp_path, capsys):
    assert calibration_tries.main(["--demo", str(tmp_path), "--try", "a", "rl_steps=1"]) == 2
    assert "multianswer demo --out" in capsys.readouterr().err
