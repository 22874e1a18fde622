"""Tasks: data sets with gold answers and verifiers, registered by name."""

from multianswer.tasks.base import Example, Task, get_task, prompt_messages, register_task, task_names, to_grpo_dataset

__all__ = ["Example", "Task", "get_task", "prompt_messages", "register_task", "task_names", "to_grpo_dataset"]
