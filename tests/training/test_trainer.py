"""Training on the tiny model: a real GRPO step per method, resume after SIGKILL, two processes on CPU.

The random tiny model never writes a valid format, so every reward would be 0 and no weight
would move. Each test first teaches it its method's format with a few seconds of supervised
fine-tuning on random answers; GRPO then sees rewards that vary within a group.

Run as a script (`python tests/test_train.py key=value ... [--resume]`), this file registers
the test task and trains: the subprocess tests use that, also under `accelerate launch`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from multianswer.core.formats import as_format, chat_messages, format_completion
from multianswer.core.rewards import METHOD_FORMATS, METHODS
from multianswer.tasks import Example, Task, register_task

TASK = "test-even-numbers"
HERE = Path(__file__).resolve()
REPO = HERE.parents[2]


def _even_examples(split: str) -> list[Example]:
    # About half of the numbers the tuned model writes (0..19) are right: rewards vary in a group
    return [
        Example(id=f"{split}-{n}", problem=f"Name an even number below {n}.", answers=[str(i) for i in range(0, n, 2)])
        for n in range(10, 30)
    ]


register_task(TASK, lambda: Task(name=TASK, description="even numbers", source="tests", load=_even_examples))


def tune_tiny_for_format(method: str, out: Path, steps: int = 100, seed: int = 0) -> Path:
    """Teach the tiny model the completion format of `method` with random answers 0..19; save it to `out`."""
    from multianswer.models.loading import load_model
    from multianswer.training.format_warmup import format_warmup

    fmt = METHOD_FORMATS[method]
    k = 3 if fmt.is_multi else 1
    rng = random.Random(seed)
    rows = []
    for _ in range(400):
        answers = [str(a) for a in rng.sample(range(20), k)]
        conf = [round(rng.random() / k, 1) for _ in range(k)] if fmt.has_confidence else None
        prompt = chat_messages(f"Name an even number below {rng.randrange(10, 30)}.", fmt, k)
        rows.append((prompt, format_completion(answers, fmt, conf, think="ok")))
    torch.manual_seed(seed)
    model, tok = load_model("tiny", device="cpu")
    format_warmup(model, tok, rows, steps, lr=4e-3, batch_size=8, seed=seed)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _overrides(model_dir: Path, out: Path, method: str, **extra) -> list[str]:
    settings = {
        "model": str(model_dir), "task": TASK, "method": method, "output_dir": str(out), "k": 3,
        "num_generations": 4, "per_device_train_batch_size": 8, "max_completion_length": 72,
        "max_steps": 2, "learning_rate": 1e-3, "temperature": 1.0, "logging_steps": 1, "save_steps": 100,
        "report_to": "none", "seed": 0, "disable_tqdm": True, "lora_r": 4, "lora_alpha": 8,
        **extra,
    }
    return [f"{k}={v}" for k, v in settings.items()]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    old = os.environ.get("MULTIANSWER_CACHE")
    os.environ["MULTIANSWER_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("MULTIANSWER_CACHE", None)
    else:
        os.environ["MULTIANSWER_CACHE"] = old


@pytest.fixture(scope="module")
def tuned(cache, tmp_path_factory):
    """method -> a tiny model that writes that method's format (built on first use)."""
    models: dict[str, Path] = {}

    def get(method: str) -> Path:
        if method not in models:
            models[method] = tune_tiny_for_format(method, tmp_path_factory.mktemp(f"tiny-{method}"))
        return models[method]

    return get


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


# ---------------------------------------------------------------------------- one run per method


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_a_grpo_step_trains_each_method(method, tuned, tmp_path):
    from multianswer.training.config import load_config
    from multianswer.training.trainer import train

    base = tuned(method)
    use_lora = method in ("rlcr", "multi-rlcr")  # both LoRA (merged at the end) and full fine-tuning
    extra = {"use_lora": use_lora}
    if method == "multi-rlvr":
        extra["correctness"] = "count"
    result = train(load_config(None, _overrides(base, tmp_path / "run", method, **extra)))

    assert result.global_step == 2
    steps = [h for h in result.history if "loss" in h]
    assert len(steps) == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in steps)
    names = ["format", "correct"] + (["brier"] if as_format(METHOD_FORMATS[method]).has_confidence else [])
    for h in steps:
        assert all(f"rewards/{n}/mean" in h for n in names)
        assert "answer_set/format_rate" in h and h["rollout/completion_tokens"] > 0
    assert max(h["rewards/format/mean"] for h in steps) > 0  # the tuned model writes the format
    assert min(h["frac_reward_zero_std"] for h in steps) < 1.0  # so some advantages are not zero

    before, after = _weights(base), _weights(result.model_dir)
    assert set(before) == set(after)  # merged LoRA saves a plain model
    assert not (result.model_dir / "adapter_config.json").exists()
    assert any(not torch.equal(before[n], after[n]) for n in before)

    card = (result.output_dir / "README.md").read_text()
    assert f"| method | {method} |" in card and "| K | 3 |" in card and TASK in card and str(base) in card
    samples = [json.loads(line) for line in (result.output_dir / "samples.jsonl").read_text().splitlines()]
    assert {s["step"] for s in samples} == {1, 2} and all(set(s["rewards"]) == set(names) for s in samples)
    from multianswer.training.config import load_config as reload

    assert reload(result.output_dir / "config.yaml").method.method == method


@pytest.mark.slow
def test_adapter_only_save_and_existing_checkpoints_need_resume(tuned, tmp_path):
    from multianswer.training.config import load_config
    from multianswer.core.errors import UserError
    from multianswer.training.trainer import train

    # the raw tiny model, taught the format by the built-in warm-up on the LoRA adapter
    overrides = _overrides("tiny", tmp_path / "run", "rlcr", use_lora=True, merge_adapter=False, max_steps=1,
                           save_steps=1, samples_per_log=0, format_warmup_steps=3, format_warmup_lr=1e-3)
    result = train(load_config(None, overrides))
    assert (result.model_dir / "adapter_config.json").exists() and not (result.output_dir / "samples.jsonl").exists()
    assert "| format warm-up steps | 3 |" in (result.output_dir / "README.md").read_text()
    with pytest.raises(UserError, match="already has checkpoints; pass --resume"):
        train(load_config(None, overrides))


def test_warmup_rows_teach_the_format_not_the_answers():
    from multianswer.core.formats import parse_completion
    from multianswer.tasks import get_task, to_grpo_dataset
    from multianswer.training.format_warmup import warmup_rows

    for fmt, k in (("multi-conf", 3), ("single-conf", 1), ("multi", 4)):
        dataset = to_grpo_dataset(get_task(TASK), "train", fmt, k)
        rows = warmup_rows(dataset, fmt, k, seed=1)
        gold = {json.dumps(row["prompt"]): {a for aliases in row["answers"] for a in aliases} for row in dataset}
        assert len(dataset) // 2 < len(rows) <= len(dataset)  # rows with fewer than K wrong answers are left out
        for prompt, target in rows:
            parsed = parse_completion(target, fmt, k)
            assert parsed.format_ok and len(set(parsed.answers)) == k
            assert not set(parsed.answers) & gold[json.dumps(prompt)]
            if parsed.confidences is not None:
                assert sum(parsed.confidences) <= 1.0


# ---------------------------------------------------------------------------- subprocess runs


def _script(*args: str) -> list[str]:
    return [sys.executable, str(HERE), *args]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "MULTIANSWER_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO / "src")}


def _samples(out: Path) -> list[dict]:
    rows = []
    for line in (out / "samples.jsonl").read_text().splitlines() if (out / "samples.jsonl").exists() else ():
        try:
            rows.append(json.loads(line))
        except ValueError:  # being written
            pass
    return rows


def _summaries(out: Path) -> list[tuple[str, int, float]]:
    """(tag, step, scalar value, 0 for text) of every summary in the run's TensorBoard event files, read by TensorBoard."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event

    found = []
    for path in sorted(out.rglob("events.out.tfevents.*")):
        for payload in RawEventFileLoader(str(path)).Load():
            event = Event.FromString(payload)
            for v in event.summary.value:
                found.append((v.tag, event.step, v.simple_value))
    return found


def _card_metric(out: Path, name: str) -> str:
    line = next(line for line in (out / "README.md").read_text().splitlines() if line.startswith(f"| {name} |"))
    return line.split("|")[2].strip()


TIMINGS = ("runtime", "per_second", "seconds", "tokens_per_s", "per_minute", "step_time")  # a resumed session
# has no previous rollout to time its first cycle against, so completions_per_minute starts one step later


@pytest.mark.slow
def test_resume_after_sigkill_continues_at_the_checkpoint(tuned, cache, tmp_path):
    out = tmp_path / "run"
    args = _overrides(tuned("multi-rlcr"), out, "multi-rlcr", max_steps=5, save_steps=2, samples_per_log=1,
                      max_completion_length=64, report_to="tensorboard")
    proc = subprocess.Popen(_script(*args), env=_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # no deadline: under load a step can take minutes, and killing too early tests nothing
    while 3 not in {s["step"] for s in _samples(out)}:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # after step 3 was logged, before its checkpoint 4
    proc.wait()
    from multianswer.training.trainer import last_complete_checkpoint

    assert last_complete_checkpoint(out).name == "checkpoint-2"
    before_kill = _samples(out)
    assert [s["step"] for s in before_kill] == [1, 2, 3] and {step for _, step, _ in _summaries(out)} >= {1, 2, 3}
    seconds_to_checkpoint = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())[
        "stateful_callbacks"]["RunClock"]["attributes"]["seconds_before"]

    done = subprocess.run(_script(*args, "--resume"), env=_env(cache), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((out / "checkpoint-5" / "trainer_state.json").read_text())
    assert state["global_step"] == 5 == state["max_steps"]
    assert [h["step"] for h in state["log_history"] if "loss" in h] == [1, 2, 3, 4, 5]
    # step 3 ran again and was logged once; steps 1-2 are those of the killed process: it did not start over
    assert [s["step"] for s in _samples(out)] == [1, 2, 3, 4, 5]
    assert _samples(out)[:2] == before_kill[:2]
    assert (out / "samples.md").read_text().count("## step 3\n") == 1
    tags_steps = [(tag, step) for tag, step, _ in _summaries(out)]
    repeated = {ts for ts in tags_steps if tags_steps.count(ts) > 1}
    assert repeated == {("train/epoch", 5)}  # every summary once (start records at step 0 too); the final log repeats the epoch
    assert {step for _, step in tags_steps} == {0, 1, 2, 3, 4, 5}

    # and it ends exactly where an uninterrupted run ends (optimizer, RNG and data order restored)
    straight = tmp_path / "straight"
    args = [a if not a.startswith("output_dir=") else f"output_dir={straight}" for a in args]
    subprocess.run(_script(*args), env=_env(cache), capture_output=True, check=True, timeout=180)
    resumed, uninterrupted = _weights(out / "final"), _weights(straight / "final")
    assert all(torch.equal(resumed[n], uninterrupted[n]) for n in uninterrupted)
    # with the same samples, summaries and end-of-run metrics, bar timings
    assert _samples(out) == _samples(straight)
    assert (out / "samples.md").read_text() == (straight / "samples.md").read_text()
    def untimed(run):
        return {(tag, step): value for tag, step, value in _summaries(run) if not any(t in tag for t in TIMINGS)}

    assert untimed(out) == pytest.approx(untimed(straight))
    assert sorted(untimed(out)) == sorted(untimed(straight))
    assert _card_metric(out, "train_loss") == _card_metric(straight, "train_loss")
    assert float(_card_metric(out, "train_runtime")) > seconds_to_checkpoint  # both sessions counted


@pytest.mark.slow
def test_two_processes_on_cpu_agree(tuned, cache, tmp_path):
    pytest.importorskip("accelerate")
    out = tmp_path / "run"
    args = _overrides(tuned("multi-rlvr"), out, "multi-rlvr", max_steps=2, use_lora=False,
                      per_device_train_batch_size=4, samples_per_log=0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port)]
    done = subprocess.run([*launch, str(HERE), *args, "--report", str(tmp_path / "rank{rank}.json")],
                          env=_env(cache), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    assert reports[0]["global_step"] == reports[1]["global_step"] == 2
    assert reports[0]["weights_sum"] == reports[1]["weights_sum"]
    assert reports[0]["losses"] == reports[1]["losses"] and len(reports[0]["losses"]) == 2
    assert reports[0]["weights_sum"] != reports[0]["initial_weights_sum"]


def _main(argv: list[str]) -> int:
    """Train with `key=value` overrides; --resume; --report PATH writes what each rank ended with."""
    from multianswer.training.config import load_config
    from multianswer.training.trainer import train

    resume = "--resume" in argv
    report = argv[argv.index("--report") + 1] if "--report" in argv else None
    overrides = [a for i, a in enumerate(argv) if "=" in a and (i == 0 or argv[i - 1] != "--report")]
    cfg = load_config(None, overrides)
    initial = sum(float(p.double().sum()) for p in _weights(Path(cfg.model.model)).values())
    result = train(cfg, resume=resume)
    if report:
        import torch.distributed as dist

        rank = dist.get_rank() if dist.is_initialized() else 0
        world = dist.get_world_size() if dist.is_initialized() else 1
        weights = {n: p.detach() for n, p in result.model.named_parameters()}  # this rank's copy in memory
        Path(report.format(rank=rank)).write_text(json.dumps({
            "world_size": world,
            "global_step": result.global_step,
            "losses": [h["loss"] for h in result.history if "loss" in h],
            "weights_sum": sum(float(p.double().sum()) for p in weights.values()),
            "initial_weights_sum": initial,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


def test_rewards_see_label_draws_only_when_switched_on(tiny_trainer, tmp_path):
    # world-cases' training rows carry 20 drawn labels each: the trainer passes them to the rewards when asked
    on = tiny_trainer(tmp_path / "on", "task=world-cases", "limit=8", "reward_over_draws=true")
    assert [len(d) for d in on.train_dataset["label_draws"]] == [20] * 8
    off = tiny_trainer(tmp_path / "off", "task=world-cases", "limit=8")  # the default: each row's own label
    assert "label_draws" not in off.train_dataset.column_names and len(off.train_dataset) == 8
