"""Tasks: the Task interface, its registry, and every built-in task.

Importing this package imports each of its modules and sub-packages, and every task module
registers its tasks when imported (``bomerge.tasks.registry.register``); adding a task
is adding one module (or package) here, with no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from bomerge.tasks.base import Example, Task
from bomerge.tasks.registry import get_task, task_names

__all__ = ["Example", "Task", "get_task", "task_names"]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
