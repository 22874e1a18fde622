"""What a format warm-up keeps of what the model knows: plain pass@K before it, in-format coverage@K after it.

    before  the model as loaded, asked each held-out question plainly (generation/plain.py) n times;
            each reply's answer (`extract_answer`) is scored as a one-answer completion by the
            evaluation code (`runner.result_row`, `summary.summarize_run`): pass@K from n samples
    after   the model after the config's format warm-up alone (`trainer.save_warmed_base`, the model
            GRPO starts from), evaluated in the method's format and prompt style (`runner.evaluate`):
            coverage@K of one K-answer generation (multi formats) or pass@K of K samples (single)

kept = after / before. Both read the task's held-out split; the warm-up reads the training split.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multianswer.core.formats import AnswerFormat, format_completion
from multianswer.core.rewards import METHOD_FORMATS
from multianswer.evaluation.compare import cost_rows
from multianswer.evaluation.runner import EvalArgs, evaluate, result_row
from multianswer.evaluation.summary import summarize_run
from multianswer.generation.base import Backend, Completion, SamplingArgs, derive_seed
from multianswer.generation.plain import ask_plainly, extract_answer, plain_messages

PLAIN_THINK = "asked plainly"  # the think text of a plain answer written as a one-answer completion


@dataclass
class KeepsArgs:
    """Which held-out questions, and how the plain answers are sampled."""

    split: str = "test"
    limit: int | None = 100  # held-out questions
    plain_samples: int | None = None  # plain replies per question (default K: pass@K is "one of K samples right")
    batch_size: int = 16
    bootstrap: int = 1000


def as_single_completion(reply: str, question: str = "") -> str:
    """A plain reply as a `single`-format completion holding its extracted answer (the reply itself when it has none)."""
    answer = extract_answer(reply, question)
    return format_completion([answer], AnswerFormat.SINGLE, think=PLAIN_THINK) if answer else reply


def plain_rows(backend: Backend, examples: list, k: int, sampling: SamplingArgs, instruction: str, seed: int) -> list[dict]:
    """results.jsonl rows of the plain replies: each reply's answer scored as a one-answer sample (raw replies kept)."""
    seeds = [derive_seed(seed, "plain", ex.id) for ex in examples]
    replies = ask_plainly(backend, [ex.problem for ex in examples], sampling, seeds, instruction)
    rows = []
    for i, (ex, completions) in enumerate(zip(examples, replies)):
        wrapped = [Completion(as_single_completion(c.text, ex.problem), c.n_tokens) for c in completions]
        row = result_row(i, ex, plain_messages(ex.problem, instruction), wrapped, AnswerFormat.SINGLE, k, seeds[i])
        rows.append(row | {"replies": [c.text for c in completions]})
    return rows


def plain_summary(cfg, backend: Backend, examples: list, args: KeepsArgs, out: Path | None = None) -> dict:
    """The plain run's summary (pass@1..K with bootstrap intervals); rows and summary written to OUT when given."""
    k, w, g = cfg.method.k, cfg.warmup, cfg.grpo_kwargs()
    n = args.plain_samples or k
    sampling = SamplingArgs(n, g["temperature"], g["top_p"], w.format_warmup_max_new_tokens)
    seed = g.get("seed", 0)
    rows = plain_rows(backend, examples, k, sampling, w.format_warmup_instruction, seed)
    run = {"model": cfg.model.model, "task": cfg.data.task, "split": args.split, "format": "single", "k": k,
           "samples": n, "temperature": sampling.temperature, "max_new_tokens": sampling.max_new_tokens, "plain": True}
    summary = summarize_run(rows, run, args.bootstrap, seed)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def warmed_summary(cfg, model_dir: Path, args: KeepsArgs, out: Path) -> dict:
    """The warmed model evaluated in the method's format, prompt style and parser rules (a run directory in OUT)."""
    m, g = cfg.method, cfg.grpo_kwargs()
    return evaluate(EvalArgs(
        model=str(model_dir), task=cfg.data.task, out=str(out), format=METHOD_FORMATS[m.method].value, k=m.k,
        split=args.split, limit=args.limit, temperature=g["temperature"], top_p=g["top_p"],
        max_new_tokens=g.get("max_completion_length", 256), seed=g.get("seed", 0), batch_size=args.batch_size,
        bootstrap=args.bootstrap, report=False, progress=False, require_analysis=m.require_analysis,
        strict_confidence=m.strict_confidence, prompt_style=m.prompt_style,
    ))


def keeps_figures(before: dict, after: dict, k: int) -> dict[str, Any]:
    """Plain pass@K before, in-format coverage@K after (with 95% intervals), the format rate, and kept = after / before."""
    plain, covered = before.get(f"pass@{k}"), cost_rows(after, k, None)["coverage_at_k"]
    ci_key = "coverage_ci" if after["format"].is_multi else f"pass@{k}_ci"
    return {
        "plain_pass_at_k": plain, "plain_pass_at_k_ci": before.get(f"pass@{k}_ci"),
        "coverage_at_k": covered, "coverage_at_k_ci": after.get(ci_key), "format_rate": after.get("format_rate"),
        "kept": covered / plain if plain and covered is not None else None,
    }


def warmup_keeps(cfg, out: Path, args: KeepsArgs, sources: tuple[str, ...] = ("own",)) -> dict[str, dict]:
    """For each warm-up source: what the warm-up of `cfg` keeps on held-out questions (source -> figures).

    The warmed models and their evaluations in OUT are reused by a re-run; the plain answers are sampled again.
    """
    from multianswer.generation.backends import make_backend
    from multianswer.tasks import get_task
    from multianswer.training.trainer import save_warmed_base

    out = Path(out)
    examples = get_task(cfg.data.task).examples(args.split, args.limit)
    backend = make_backend(cfg.model.model, "hf", args.batch_size, dtype=cfg.model.dtype, progress=False)
    before = plain_summary(cfg, backend, examples, args, out / "plain")
    del backend  # the base model's memory, before a warmed copy is loaded
    figures = {}
    for source in sources:
        scfg = dataclasses.replace(cfg, warmup=dataclasses.replace(cfg.warmup, format_warmup_source=source))
        warmed = out / source / "model"
        if not (warmed / "config.json").is_file():
            save_warmed_base(scfg, warmed)
        after = warmed_summary(scfg, warmed, args, out / source / "eval")
        figures[source] = keeps_figures(before, after, cfg.method.k)
    (out / "keeps.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures


def keeps_table(figures: dict[str, dict], k: int) -> str:
    """Markdown table: one row per warm-up source."""
    def cell(value, ci=None) -> str:
        text = "n/a" if value is None else f"{value:.3f}"
        return text + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    lines = [f"| warm-up source | plain pass@{k} before | in-format coverage@{k} after | format rate after | kept |",
             "|---|---:|---:|---:|---:|"]
    for source, f in figures.items():
        lines.append(f"| {source} | {cell(f['plain_pass_at_k'], f['plain_pass_at_k_ci'])} | "
                     f"{cell(f['coverage_at_k'], f['coverage_at_k_ci'])} | {cell(f['format_rate'])} | {cell(f['kept'])} |")
    return "\n".join(lines)
