"""Fine-tuning that keeps the last k snapshots: the candidates of SWA-style merging and
model soups.

``train.mode`` names the loop (default: the task's first training mode): ``shuffled`` for
one-head tasks; ``round_robin``, ``pcgrad`` and ``single`` over the heads of a several-head
task. A loop is one module with one function, listed in ``TRAINING_LOOPS``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bomerge.config import TaskConfig, TrainConfig
from bomerge.errors import BomergeError
from bomerge.tasks import get_task
from bomerge.train.groups import train_pcgrad, train_round_robin, train_single
from bomerge.train.shuffled import train_shuffled
from bomerge.train.snapshots import BASE_FOLDER, MANIFEST, finished_checkpoints

__all__ = ["BASE_FOLDER", "MANIFEST", "TRAINING_LOOPS", "finetune"]

TrainingLoop = Callable[..., list[Path]]
TRAINING_LOOPS: dict[str, TrainingLoop] = {
    "shuffled": train_shuffled,
    "round_robin": train_round_robin,
    "pcgrad": train_pcgrad,
    "single": train_single,
}


def finetune(
    task_cfg: TaskConfig,
    train: TrainConfig,
    out_dir: Path,
    device: torch.device | str = "cpu",
    show_progress: bool = True,
    log_path: Path | None = None,
) -> list[Path]:
    """Fine-tune per ``train`` and return the kept checkpoint folders, oldest first.

    A run that actually trains (not one found finished) appends a line to ``log_path``
    (JSON lines: folder, settings, steps, seconds), so callers can tell trained runs from
    reused ones."""
    done = finished_checkpoints(out_dir, task_cfg, train)
    if done is not None:
        return done
    task = get_task(task_cfg)
    mode = train.mode or task.training_modes[0]
    if mode not in task.training_modes:
        raise BomergeError(f"train.mode '{mode}' is not a training mode of task '{task.name}' "
                           f"(its modes: {', '.join(task.training_modes)})")
    started = time.perf_counter()
    if out_dir.exists():
        shutil.rmtree(out_dir)  # an unfinished run: training is deterministic, start over
    out_dir.mkdir(parents=True)
    return TRAINING_LOOPS[mode](task, task_cfg, train, out_dir, device, show_progress, log_path,
                                started)
