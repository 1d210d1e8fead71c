"""Tasks: an env factory, a success signal, a step limit and an optional scripted expert."""

from honing.tasks.base import Expert, Task
from honing.tasks.registry import check_shapes, get_task, list_tasks, register_task

__all__ = ["Expert", "Task", "check_shapes", "get_task", "list_tasks", "register_task"]
