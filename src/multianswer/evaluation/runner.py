"""`multianswer eval`: generate, parse, verify and score a model on a task; write rows, summary, report.

The run directory (run.json, results.jsonl, summary.json, report.md|html) is described in
`multianswer.evaluation.rundir`. Multi formats: `samples` generations (default 1) of K
candidates each. Single formats: `samples` (default k) independent answers per question,
scored with the unbiased pass@k' for k' ≤ k. A re-run skips the questions already in
results.jsonl; samples are seeded per question, so a resumed run ends with the same rows and
summary as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from multianswer.core.errors import UserError
from multianswer.core.formats import (
    FORMAT_NAMES, PROMPT_STYLES, AnswerFormat, FormatRules, RuledFormat, as_format, with_rules,
)
from multianswer.core.matching import get_verifier
from multianswer.core.outputs import check_output_dir
from multianswer.core.scoring import Scored, VerifierTally, matched_gold, score_completion
from multianswer.evaluation import rundir
from multianswer.evaluation.rundir import JUDGE_CACHE, RESULTS, SUMMARY, read_rows
from multianswer.evaluation.summary import JUDGE, question_metrics, summarize_run
from multianswer.generation.backends import BACKENDS
from multianswer.generation.openai import ServerError, ServerSettings, add_server_options, server_options
from multianswer.generation.options import check_sampling


@dataclass
class EvalArgs:
    """One evaluation run (the CLI options have the same names)."""

    model: str
    task: str
    out: str
    format: str | AnswerFormat | RuledFormat = "multi-conf"  # a name; `check()` turns it into a format
    k: int = 3  # candidates per generation (multi) or samples scored with pass@k (single)
    samples: int | None = None  # generations per question: default 1 (multi) or k (single)
    temperature: float = 0.7
    top_p: float = 1.0
    split: str = "test"
    limit: int | None = None
    batch_size: int = 16
    max_new_tokens: int = 512
    seed: int = 0
    backend: str = "auto"
    dtype: str | None = None
    device: str | None = None
    bootstrap: int = 1000
    report: bool = True
    progress: bool = True
    verifier: str | None = None  # overrides every example's verifier (e.g. 'judge')
    base_url: str | None = None  # --backend openai: the server (model is the served model's name)
    concurrency: int = 8  # --backend openai and the judge: requests in flight
    request_timeout: float = 300.0  # seconds per request before a retry
    retries: int = 5  # further tries per request after 429, 5xx or connection errors
    judge_model: str | None = None  # verifier 'judge': the served model that judges
    judge_base_url: str | None = None  # its server (default: base_url)
    require_analysis: bool = False  # confidence formats need a non-empty <analysis> block (the paper's parser)
    strict_confidence: bool = False  # confidences are plain decimals in [0, 1]; "60%" fails (the paper's parser)
    prompt_style: str = "paper"  # the system prompt: the paper's, or 'short' (the same tags, for small models)

    def resolved_samples(self) -> int:
        """Generations per question after defaults, checked against the format (call after `check`)."""
        n = self.samples if self.samples is not None else (1 if self.format.is_multi else self.k)
        if n < 1:
            raise UserError(f"--samples must be at least 1, got {n}")
        if not self.format.is_multi and n < self.k:
            raise UserError(f"single-answer pass@{self.k} needs at least {self.k} samples, got --samples {n}")
        return n

    def check(self) -> None:
        """Raise UserError for settings that cannot run; resolve `format` to an AnswerFormat (once, here)."""
        try:
            rules = FormatRules(self.require_analysis, self.strict_confidence, self.prompt_style)
            self.format = with_rules(as_format(self.format), rules)  # the prompt states the rules, the parser applies them
        except ValueError as err:
            raise UserError(str(err)) from None
        if self.k < 1:
            raise UserError(f"--k must be at least 1, got {self.k}")
        check_sampling(self.temperature, self.top_p, self.max_new_tokens)
        if self.batch_size < 1 or self.bootstrap < 0:
            raise UserError("--batch-size must be at least 1, --bootstrap at least 0")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be at least 1, got {self.limit}")
        if self.backend == "openai" and not self.base_url:
            raise UserError("--backend openai needs --base-url (e.g. http://localhost:8000/v1)")
        self.resolved_samples()


def run_settings(args: EvalArgs) -> dict:
    """The settings written to run.json (model given as a name; samples resolved; after `args.check()`)."""
    settings = {key: getattr(args, key) for key in rundir.IDENTITY}
    settings["format"] = args.format.value
    settings["samples"] = args.resolved_samples()
    settings["model"] = args.model if isinstance(args.model, str) else type(args.model).__name__
    return settings


# ---------------------------------------------------------------------------- the run

def evaluate(args: EvalArgs, backend: Any = None) -> dict:
    """Run (or resume) an evaluation and return its summary; `backend` overrides loading args.model."""
    from multianswer.generation.backends import SamplingArgs, derive_seed, make_backend
    from multianswer.models.context import check_fits_context
    from multianswer.tasks import get_task, prompt_messages

    args.check()
    fmt, n = args.format, args.resolved_samples()
    k_prompt = fmt.answers_per_completion(args.k)
    check_output_dir(args.out, "--out")
    task = get_task(args.task)
    examples = task.examples(args.split, args.limit)
    if not examples:
        raise UserError(f"task {args.task!r} split {args.split!r} has no examples")
    if args.verifier:
        examples = [replace(ex, verifier=args.verifier) for ex in examples]
    ids = [ex.id for ex in examples]
    if len(set(ids)) != len(ids):
        raise UserError(f"task {args.task!r} has duplicate example ids; results are keyed by id")

    for name in {ex.verifier for ex in examples} - {JUDGE}:  # the judge is checked against its server below
        get_verifier(name)  # an unknown name raises here, before any model is touched

    out = Path(args.out)
    if backend is None and args.backend != "openai":  # a local model: the questions left must fit its context
        done_before = {row["id"] for row in read_rows(out / RESULTS)}
        check_fits_context(args.model, task, [ex for ex in examples if ex.id not in done_before], fmt, args.k,
                           args.max_new_tokens, k_option="--k", completion_option="--max-new-tokens")
    out.mkdir(parents=True, exist_ok=True)
    settings = run_settings(args)
    rundir.start_or_check(out, settings)
    done = {row["id"] for row in read_rows(out / RESULTS, repair=True)}
    pending = [(i, ex) for i, ex in enumerate(examples) if ex.id not in done]
    backend_name = None
    if pending:
        if JUDGE in {ex.verifier for _, ex in pending}:  # connected and checked before any model is loaded
            _register_judge(args, out)
        server = server_options(args) if args.backend == "openai" else {}
        gen = make_backend(backend if backend is not None else args.model, args.backend, args.batch_size,
                           args.dtype, args.device, args.progress, **server)
        backend_name = getattr(gen, "name", type(gen).__name__)
        prompts = [prompt_messages(ex, task, fmt, k_prompt) for _, ex in pending]
        seeds = [derive_seed(args.seed, ex.id) for _, ex in pending]
        sampling = SamplingArgs(n, args.temperature, args.top_p, args.max_new_tokens)
        tally = VerifierTally(task.verifier)
        with open(out / RESULTS, "a", encoding="utf-8") as f:
            try:
                for j, completions in gen.stream(prompts, sampling, seeds):
                    index, ex = pending[j]
                    row = result_row(index, ex, prompts[j], completions, fmt, args.k, seeds[j], tally)
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    f.flush()  # a killed run keeps every finished question
                    tally.check("this evaluation so far")  # stop before generating the rest in vain
            except ServerError as err:  # a server gone mid-run: what is written stays, the run can resume
                raise ServerError(f"{err}; finished questions are kept in {out / RESULTS}: run again to resume") from None
    rundir.record(out, backend_name, args.bootstrap)
    wanted = set(ids)
    rows = [r for r in read_rows(out / RESULTS) if r["id"] in wanted]
    summary = summarize_run(rows, rundir.run_meta(out, settings), args.bootstrap, args.seed)
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    if args.report:
        from multianswer.evaluation.report import write_report

        write_report(out, summary, rows)
    return summary


def completion_fields(scored: Scored, verifier: str | None, gold: object) -> dict:
    """A scored completion's fields in results.jsonl: answer set, correctness, gold indices hit, verifier error.

    Judged completions also keep what the `match` verifier says (`match_correct`), so the summary
    can report how often the judge and exact matching disagree.
    """
    hits = None
    if scored.verified and scored.verifier_error is None:
        hits = matched_gold(verifier, scored.parsed.answers, gold)
    fields = scored.fields() | {"matched_gold": hits, "verifier_error": scored.verifier_error}
    if verifier == JUDGE:
        fields["match_correct"] = get_verifier("match")(list(scored.parsed.answers), gold) if scored.verified else None
    return fields


def result_row(index: int, ex: Any, prompt: list[dict], completions: list, fmt: AnswerFormat, k: int, seed: int,
               tally: VerifierTally | None = None) -> dict:
    """The results.jsonl row of one question: prompt, raw completions, parsed candidates, scores, tokens."""
    k_prompt = fmt.answers_per_completion(k)
    scored = [score_completion(c.text, fmt, k_prompt, ex.answers, ex.verifier, ex.problem) for c in completions]
    if tally is not None:
        tally.add(scored)
    fields = [completion_fields(s, ex.verifier, ex.answers) for s in scored]
    tokens = [c.n_tokens for c in completions]
    return {
        "index": index, "id": ex.id, "seed": seed, "prompt": prompt,
        "gold": ex.answers, "verifier": ex.verifier,
        "completions": [{"text": c.text, "n_tokens": c.n_tokens, **f} for c, f in zip(completions, fields)],
        "tokens": sum(tokens),
        "metrics": question_metrics(fields, tokens, fmt, k, len(ex.answers)),
    }


def _register_judge(args: EvalArgs, out: Path) -> None:
    """Register this run's LLM judge as the 'judge' verifier, its verdicts cached in DIR/judge_cache.jsonl."""
    from multianswer.core.matching import register_verifier
    from multianswer.core.scoring import forget_scores
    from multianswer.generation.judge import connect_judge

    base_url = args.judge_base_url or args.base_url
    if not args.judge_model or not base_url:
        raise UserError("verifier 'judge' needs --judge-model and a server: --judge-base-url (or --base-url)")
    register_verifier(JUDGE, connect_judge(ServerSettings(base_url, args.judge_model, args.concurrency,
                                                          args.request_timeout, args.retries), out / JUDGE_CACHE))
    forget_scores()  # scores cached under the name 'judge' may come from another run's judge


# ---------------------------------------------------------------------------- CLI

def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `multianswer eval`."""
    parser.add_argument("--model", required=True,
                        help="hub id, local directory, 'smollm2' or 'tiny'; with --backend openai the served model's name")
    parser.add_argument("--task", required=True, help="task name (see `multianswer tasks`), jsonl:PATH or hf:NAME")
    parser.add_argument("--out", required=True, help="output directory (re-running with it resumes the run)")
    parser.add_argument("--format", default="multi-conf", choices=FORMAT_NAMES, help="answer format to prompt and parse")
    parser.add_argument("--prompt-style", dest="prompt_style", default="paper", choices=PROMPT_STYLES,
                        help="system prompt: the paper's, or 'short' (the same tags in <= 60 tokens, for small models); "
                             "use the style the model was trained with (the config's prompt_style)")
    parser.add_argument("--k", type=int, default=3, help="candidates per generation (multi) or k of pass@k (single)")
    parser.add_argument("--samples", type=int, default=None, help="generations per question (default 1 for multi, k for single)")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature; 0 is greedy")
    parser.add_argument("--top-p", dest="top_p", type=float, default=1.0, help="nucleus sampling mass")
    parser.add_argument("--split", default="test", help="task split to evaluate")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=16,
                        help="sequences (prompts × samples) per generate call (transformers)")
    parser.add_argument("--max-new-tokens", dest="max_new_tokens", type=int, default=512,
                        help="generated tokens per completion at most")
    parser.add_argument("--seed", type=int, default=0, help="seed of sampling (per question) and of the bootstrap")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="generation backend (auto: vLLM on GPU when installed; openai: a server at --base-url)")
    parser.add_argument("--dtype", default=None, help="model dtype: auto, fp32, bf16, fp16")
    parser.add_argument("--device", default=None, help="device for transformers (default: cuda when present)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    parser.add_argument("--report", action=argparse.BooleanOptionalAction, default=True, help="write report.md and report.html")
    parser.add_argument("--verifier", default=None,
                        help="verify every answer with this verifier instead of the task's (e.g. judge)")
    add_server_options(parser)
    judge = parser.add_argument_group("LLM judge (--verifier judge, or a task whose verifier is 'judge')")
    judge.add_argument("--judge-model", dest="judge_model", default=None, help="the served model that judges answers")
    judge.add_argument("--judge-base-url", dest="judge_base_url", default=None,
                       help="the judge's OpenAI-compatible server (default: --base-url)")
    rules = parser.add_argument_group("parser rules (the paper's configs train with both on; see docs/fidelity.md)")
    rules.add_argument("--require-analysis", dest="require_analysis", action="store_true",
                       help="confidence formats fail unless they hold a non-empty <analysis> block")
    rules.add_argument("--strict-confidence", dest="strict_confidence", action="store_true",
                       help="confidences must be plain decimals in [0, 1] ('60%%' fails the format)")


def run(args: argparse.Namespace) -> int:
    """Run `multianswer eval`."""
    fields = {f for f in EvalArgs.__dataclass_fields__} - {"progress"}
    summary = evaluate(EvalArgs(**{k: v for k, v in vars(args).items() if k in fields}))
    from multianswer.evaluation.report import summary_table

    print(summary_table(summary))
    print(f"\nwrote {Path(args.out) / RESULTS}, {SUMMARY}" + (", report.md, report.html" if args.report else ""), file=sys.stderr)
    return 0

