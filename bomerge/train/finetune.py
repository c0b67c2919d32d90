"""Fine-tuning that keeps the last k snapshots: the candidates of SWA-style merging and
model soups.

``train.mode`` names the loop (default: the task's first training mode): ``shuffled`` for
one-head tasks; ``round_robin``, ``pcgrad`` and ``single`` over the heads of a several-head
task. A loop is a function of a ``TrainingRun``, listed under its mode in ``TRAINING_LOOPS``
(a test checks that every registered task's modes have one).

With ``train.intermediate`` a run first fine-tunes (or reuses) its intermediate run beside
its folder and starts from that encoder (``bomerge.train.intermediate``).
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
from bomerge.train.groups import train_heads
from bomerge.train.intermediate import KEY, check_intermediate, intermediate_folder
from bomerge.train.shuffled import train_shuffled
from bomerge.train.snapshots import TrainingRun, finished_checkpoints

TrainingLoop = Callable[[TrainingRun], list[Path]]
TRAINING_LOOPS: dict[str, TrainingLoop] = {
    "shuffled": train_shuffled,
    "round_robin": train_heads,
    "pcgrad": train_heads,
    "single": train_heads,
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
    reused ones. With ``train.intermediate``, its run (kept in ``intermediate_folder``)
    is trained first, or reused when finished, and logged the same way."""
    intermediate = check_intermediate(task_cfg, train)  # bad settings stop before any work
    done = finished_checkpoints(out_dir, task_cfg, train)
    if done is not None:
        return done
    task = get_task(task_cfg)
    plan = task.training_plan(train)
    start: Path | None = None
    if intermediate is not None:
        folder = intermediate_folder(out_dir)
        try:
            finished_checkpoints(folder, *intermediate)
        except BomergeError as error:  # refused like any run, named as the intermediate one
            raise BomergeError(f"{KEY}: {error}") from None
        start = finetune(*intermediate, folder, device, show_progress, log_path)[-1]
    started = time.perf_counter()
    if out_dir.exists():
        shutil.rmtree(out_dir)  # an unfinished run: training is deterministic, start over
    out_dir.mkdir(parents=True)
    run = TrainingRun(task, task_cfg, train, plan, out_dir, device, show_progress, log_path,
                      started, start)
    return TRAINING_LOOPS[plan.mode](run)
