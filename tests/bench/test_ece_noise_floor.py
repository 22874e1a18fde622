"""bench/ece_noise_floor.py: a calibrated model's ECE is only noise, and more draws shrink it."""

import importlib.util
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ece_noise_floor", ROOT / "bench" / "ece_noise_floor.py")
noise = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(noise)


def test_a_certain_answer_leaves_no_noise():
    # p = 1 on "a": pairs (1, right) and (0, wrong) twice on every draw, each bin exact
    assert noise.calibrated_ece([{"a": 1.0, "b": 0.0, "c": 0.0}], 3, 5, random.Random(0)) == 0.0


def test_more_draws_per_question_lower_the_floor():
    from multianswer.tasks import get_task

    distributions = [ex.metadata["probabilities"] for ex in get_task("world-cases").examples("test", 100)]
    rng = random.Random(0)
    one = sum(noise.calibrated_ece(distributions, 3, 1, rng) for _ in range(20)) / 20
    ten = sum(noise.calibrated_ece(distributions, 3, 10, rng) for _ in range(20)) / 20
    assert 0.03 < one < 0.07 and ten < one / 2
