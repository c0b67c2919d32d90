"""Cross-task merging: the merged model (one encoder, every task's head) and task ``multi``
(registered on import)."""

from __future__ import annotations

from bomerge.tasks.multi.task import CrossTask, build_cross_task

__all__ = ["CrossTask", "build_cross_task"]
