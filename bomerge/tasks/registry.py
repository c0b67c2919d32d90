"""The task registry: configs name tasks (``task.name``); ``get_task`` builds them.

Importing ``bomerge.tasks`` imports every module and package in it, and a task module calls
``register`` when imported, so adding a task adds no line anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from bomerge.config import TaskConfig
from bomerge.errors import BomergeError
from bomerge.tasks.base import Task

TaskFactory = Callable[[TaskConfig], Task]
_FACTORIES: dict[str, TaskFactory] = {}
_ALIASES: dict[str, str] = {}
_ARCHITECTURES: dict[str, str] = {}


def register(name: str, factory: TaskFactory, aliases: tuple[str, ...] = (),
             architectures: tuple[str, ...] = ()) -> None:
    """Make a task known to configs (``task.name``) by ``name`` and ``aliases``;
    ``factory(task_config)`` builds it (most tasks ignore the config and return one
    instance; a task over user files reads its columns from ``task.data``)."""
    _FACTORIES[name] = factory
    for alias in aliases:
        _ALIASES[alias] = name
    for architecture in architectures:
        _ARCHITECTURES[architecture] = name


def task_names() -> list[str]:
    return sorted(_FACTORIES)


def canonical_name(name: str) -> str:
    """A task name with its alias resolved (``sst-2`` → ``sst2``), whether or not known."""
    return _ALIASES.get(name.lower(), name.lower())


def get_task(config: TaskConfig | str) -> Task:
    """The task a config's ``task:`` section (or a bare task name) describes.

    Raises:
        BomergeError: the name is unknown (listing the known ones), or the task refuses
            its ``task.data`` settings.
    """
    if isinstance(config, str):
        config = TaskConfig(name=config)
    key = canonical_name(config.name)
    if key not in _FACTORIES:
        raise BomergeError(f"unknown task '{config.name}' (known tasks: {', '.join(task_names())})")
    return _FACTORIES[key](config)


def task_for_architecture(architecture: str) -> str | None:
    """The name of the registered task whose models carry ``architecture`` (for messages
    that point a user from a wrong task to the right one)."""
    return _ARCHITECTURES.get(architecture)
