"""The bottom layer: formats, matching, metrics, scoring (parse + verify) and rewards. Pure Python: no torch, no trainer."""
