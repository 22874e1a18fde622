"""Public import path of the reward functions (`multianswer.rewards.build_rewards`); they live in `core.rewards`."""

from multianswer.core.rewards import (  # noqa: F401
    CORRECTNESS_MODES,
    METHOD_FORMATS,
    METHODS,
    brier_reward,
    build_rewards,
    correctness_reward,
    format_reward,
    uniqueness_reward,
)
from multianswer.core.scoring import score_completion  # noqa: F401
