"""multianswer: RL that teaches language models to give several calibrated answers in one generation."""

__version__ = "0.1.0"
