"""What the format warm-up keeps of what the model knows, per warm-up source, on held-out questions.

    python bench/warmup_keeps.py --config configs/smollm2-effect.yaml --out runs/warmup-keeps \
        [--limit 100] [--sources own borrowed] [key=value ...]

For the config's model, task, method and K: plain pass@K of the model as loaded (asked each
held-out question plainly, K samples, the answer taken out of each reply), then for each warm-up
source the config's warm-up alone and the in-format coverage@K of the warmed model on the same
questions, in the config's prompt style (multianswer.evaluation.warmup_keeps). kept = after /
before. key=value overrides apply to the config (e.g. model=tiny format_warmup_steps=2 for a
smoke run). The table is printed and written to OUT/table.md; the figures to OUT/keeps.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from multianswer.core.errors import UserError
from multianswer.evaluation.warmup_keeps import KeepsArgs, keeps_table, warmup_keeps
from multianswer.training.config import load_config
from multianswer.training.warmup_args import WARMUP_SOURCES


def main(argv: list[str] | None = None) -> int:
    """Run the bench; the exit code (2 for a user mistake)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="a `multianswer train` YAML file (model, task, method, K, warm-up)")
    parser.add_argument("--out", default="runs/warmup-keeps", help="folder for the warmed models and evaluations (reused)")
    parser.add_argument("--limit", type=int, default=100, help="held-out questions")
    parser.add_argument("--split", default="test", help="the task's held-out split")
    parser.add_argument("--plain-samples", dest="plain_samples", type=int, default=None,
                        help="plain replies per question (default K)")
    parser.add_argument("--sources", nargs="+", default=["own", "borrowed"], choices=WARMUP_SOURCES,
                        help="warm-up sources to compare")
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=16, help="sequences decoded together")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the 95%% intervals")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config override (value read as YAML)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    start = time.monotonic()
    try:
        cfg = load_config(args.config, args.overrides)
        keeps = KeepsArgs(args.split, args.limit, args.plain_samples, args.batch_size, args.bootstrap)
        figures = warmup_keeps(cfg, Path(args.out), keeps, tuple(args.sources))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    k = cfg.method.k
    head = (f"{cfg.model.model}, {cfg.data.task} ({args.split}, {args.limit} questions), {cfg.method.method}, K = {k}, "
            f"prompt style {cfg.method.prompt_style}, {cfg.warmup.format_warmup_steps} warm-up steps")
    text = f"{head}\n\n{keeps_table(figures, k)}\n"
    Path(args.out, "table.md").write_text(text)
    print(f"\n{text}\nwall time: {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
