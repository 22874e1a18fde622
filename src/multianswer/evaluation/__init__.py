"""Evaluation: the runner, its run directory, summaries with bootstrap intervals, reports and comparisons."""
