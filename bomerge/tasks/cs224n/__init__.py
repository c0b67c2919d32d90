"""The CS224N multitask setting: its data, model, batches and Task (registered on import)."""

from __future__ import annotations

from bomerge.tasks.cs224n.task import CS224N, Cs224nTask

__all__ = ["CS224N", "Cs224nTask"]
