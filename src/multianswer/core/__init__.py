"""The bottom layer: answer formats, matching, metrics and rewards. Pure Python: no torch, no trainer."""
