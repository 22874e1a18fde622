"""An LLM judge as a verifier (`verifier: judge`): a served model says whether a candidate matches the gold.

The prompt is the reference implementation's (ishapuri/multi_answer_rl, eval/check_functions.py):
a fixed system prompt asking for a single word, YES or NO, and a user turn with the question, the
ground-truth answers and the candidate; greedy decoding, 20 tokens. A verdict is YES when the
reply contains the word "yes" in any case (the reference tests the substring, which also matches
"eyes"; we want the word).

Verdicts are cached: in memory, and on disk in one JSON line per verdict when given a path (the
eval runner uses DIR/judge_cache.jsonl), so a resumed or re-scored run asks no question twice.
The cache key holds the judge model, the prompt version, the question, the gold and the candidate.

Core never imports this module: the eval runner builds one with `connect_judge` for its run, registers
it under "judge" with `core.matching.register_verifier`, so imports keep pointing down.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from multianswer.generation.openai import ChatClient, ServerSettings

PROMPT_VERSION = "reference-v1"  # change it whenever the prompt changes, so old cached verdicts are not reused
SYSTEM_PROMPT = (
    "You are a judge that will be given a question, ground truth answers and a model generated answer. "
    "There might be multiple ground truth answers.\n"
    "The model generated answer is correct if it matches any of the ground truth answers.\n"
    "You will need to determine if the model generated answer is correct or not.\n"
    "Your response should be a single word: 'YES' if the answer is correct and 'NO' if it is not."
)
MAX_TOKENS = 20
_YES = re.compile(r"\byes\b", re.IGNORECASE)


def judge_messages(question: str | None, gold: object, candidate: str) -> list[dict]:
    """The chat messages that ask the judge about one candidate."""
    user = (f"Question: {question if question else '(not given)'}\n"
            f"Ground Truth Answers: {json.dumps(gold, ensure_ascii=False)}\n"
            f"Model Generated Answer: {candidate}")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def is_yes(reply: str) -> bool:
    """The verdict in a judge's reply: True when it says the word 'yes'."""
    return bool(_YES.search(reply))


class JudgeVerifier:
    """Labels candidates by asking a served model; verdicts are cached in memory and on disk."""

    wants_question = True  # callers that know the question pass it as `question=`

    def __init__(self, client: ChatClient, cache_path: str | Path | None = None):
        self.client = client
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self._verdicts: dict[str, bool] = {}
        self._lock = threading.Lock()
        if self.cache_path is not None and self.cache_path.exists():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._verdicts[entry["key"]] = bool(entry["verdict"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a killed run: that verdict is asked again

    def __call__(self, candidates: Sequence[str], gold: object, question: str | None = None) -> list[bool]:
        """One verdict per candidate (candidates the cache lacks are judged concurrently)."""
        keys = [self._key(question, gold, c) for c in candidates]
        missing = {k: c for k, c in zip(keys, candidates) if k not in self._verdicts}
        if missing:
            workers = min(len(missing), self.client.settings.concurrency)
            with ThreadPoolExecutor(workers, thread_name_prefix="judge") as pool:
                replies = list(pool.map(lambda c: self._ask(question, gold, c), missing.values()))
            for key, reply in zip(missing, replies):
                self._store(key, is_yes(reply), reply)
        return [self._verdicts[k] for k in keys]

    def _ask(self, question: str | None, gold: object, candidate: str) -> str:
        return self.client.complete(judge_messages(question, gold, candidate), MAX_TOKENS, temperature=0.0).text

    def _key(self, question: str | None, gold: object, candidate: str) -> str:
        parts = [self.client.settings.model, PROMPT_VERSION, question or "", json.dumps(gold, sort_keys=True), candidate]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def _store(self, key: str, verdict: bool, reply: str) -> None:
        with self._lock:
            self._verdicts[key] = verdict
            if self.cache_path is not None:
                with open(self.cache_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": key, "verdict": verdict, "reply": reply}, ensure_ascii=False) + "\n")


def connect_judge(settings: ServerSettings, cache_path: str | Path | None = None) -> JudgeVerifier:
    """A judge on a checked server (raises ServerError for a wrong URL, model or key, before any judging)."""
    client = ChatClient(settings)
    client.check()
    return JudgeVerifier(client, cache_path)
