"""Evaluation: the runner, per-question scoring summaries, reports and comparisons."""
