"""Tasks: data sets with gold answers and verifiers, registered by name.

Importing this package registers every built-in task: procedural (`procedural-sets`,
`procedural-draws`), offline knowledge (`country-borders`, `country-cities`), offline geography (`place-cities`,
`country-languages`, `region-countries`, `currency-countries`, `state-counties`, `geography-mix`), the paper's
benchmarks (the authors' copies `ddxplus`, `hotpotqa-authors`, `ambigqa-authors`; rebuilt from
upstream `ddxplus-raw`, `hotpotqa-modified`, `ambigqa`; `mbpp`), `humaneval`,
and the bring-your-own families `jsonl:PATH` and `hf:NAME`. See docs/data.md.
"""

from multianswer.tasks.base import (
    Example,
    Task,
    get_task,
    prompt_messages,
    register_task,
    task_families,
    task_names,
    to_grpo_dataset,
)
from multianswer.tasks import code, custom, ddxplus, geography, knowledge, paper, procedural, world  # noqa: F401,E402  (they register)

__all__ = [
    "Example",
    "Task",
    "get_task",
    "prompt_messages",
    "register_task",
    "task_families",
    "task_names",
    "to_grpo_dataset",
]
