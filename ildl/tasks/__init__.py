"""Task registry: `ldl` (label distributions), `dir` (imbalanced regression), `lt` (long-tailed classification).

Jobs, the CLI, studies and pages ask `get(name)` for datasets, folds, methods, metrics, columns, default folds
and option widgets; none of them branches on a task's name.
"""
from __future__ import annotations

from ..config import DEFAULT_TASK
from ..methods import available
from .base import Fold, Task
from .dir import DIRTask
from .ldl import LDLTask, compensate
from .lt import LTTask

TASKS: dict[str, Task] = {t.name: t for t in (LDLTask(), DIRTask(), LTTask())}
DEFAULT = DEFAULT_TASK  # the task of a config that names none (every saved run before tasks existed)


def get(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task '{name}' ({', '.join(TASKS)})")
    return TASKS[name]


def methods(name: str) -> list[str]:
    """The trainable methods of a task, in registry order."""
    return available(get(name).name)


__all__ = ["DEFAULT", "Fold", "Task", "TASKS", "get", "methods", "compensate"]
