"""multianswer: RL that teaches language models to give several calibrated answers in one generation."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`multianswer.generate_answers`, imported on first use so that `import multianswer` stays light."""
    if name == "generate_answers":
        from multianswer.generation.answers import generate_answers

        return generate_answers
    raise AttributeError(f"module 'multianswer' has no attribute {name!r}")
