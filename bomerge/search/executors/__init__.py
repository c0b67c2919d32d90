"""Where search trials are evaluated; importing this package registers every executor."""

from __future__ import annotations

from bomerge.search.executors import (  # noqa: F401  (each registers)
    evaluation_process,
    in_turn,
    overlapped,
    ray,
)
from bomerge.search.executors.base import (
    EXECUTORS,
    Executor,
    ExecutorContext,
    PendingTrial,
    executor_for,
    executor_names,
    get_executor,
    register,
)

__all__ = ["EXECUTORS", "Executor", "ExecutorContext", "PendingTrial", "executor_for",
           "executor_names", "get_executor", "register"]
