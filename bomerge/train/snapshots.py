"""What every fine-tuning loop shares: the start point, the optimiser and schedule, and the
snapshot keeper that keeps the last k checkpoints and marks a run finished.

A finished run writes ``train.json``; calling again with the same settings returns its
checkpoints without retraining, and different settings are refused instead of mixed. A run
with ``train.intermediate`` starts from the encoder of its intermediate run
(``bomerge.train.intermediate``), and its settings hold that run's.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import get_constant_schedule_with_warmup, get_linear_schedule_with_warmup

from bomerge.config import TaskConfig, TrainConfig
from bomerge.errors import BomergeError
from bomerge.fileio import append_jsonl, atomic_write
from bomerge.models import load_tokenizer, resolve_model_folder, train_wordpiece
from bomerge.tasks.base import Example, Task, TrainingPlan
from bomerge.train.intermediate import check_intermediate, data_identity, save_encoder

MANIFEST = "train.json"


@dataclass(frozen=True)
class TrainingRun:
    """One fine-tuning run as a loop sees it: the task and its config section, the
    ``train:`` settings and the plan the task made of them, where snapshots go, the device,
    whether to show progress, the log of trained runs and when the run started."""

    task: Task
    task_cfg: TaskConfig
    train: TrainConfig
    plan: TrainingPlan
    out_dir: Path
    device: torch.device | str
    show_progress: bool
    log_path: Path | None
    started: float
    intermediate: Path | None = None  # the intermediate run's final model, if any

    def finish(self, keeper: SnapshotKeeper, train_rows: int) -> list[Path]:
        return keeper.finish(run_settings(self.task_cfg, self.train), train_rows, self.log_path,
                             self.started)


@dataclass(frozen=True)
class TrainedCheckpoint:
    path: Path
    step: int
    epoch: float
    train_loss: float


def run_settings(task_cfg: TaskConfig, train: TrainConfig) -> dict[str, object]:
    """What a run trained, as its manifest records it: a finished run is reused only for
    equal settings. ``train.intermediate`` is recorded as the intermediate run's own
    settings (what it trained, not where its rows are)."""
    dumped = train.model_dump(mode="json")
    for key in ("mode", "tasks", "task_weights", "init_seed", "smart",  # absent unless set, so
                "intermediate"):                   # runs recorded before these keys match
        if dumped[key] is None:
            del dumped[key]
    intermediate = check_intermediate(task_cfg, train)
    if intermediate is not None:
        dumped["intermediate"] = run_settings(*intermediate)
    settings: dict[str, object] = {"task": task_cfg.name, "max_length": task_cfg.max_length,
                                   "train": dumped}
    # The rows a task reads from files it names (a csv task's files, columns and label
    # order) are part of what was trained; a data root is only where the rows are, and runs
    # recorded before this key match as they are.
    identity = data_identity(task_cfg.data)
    if identity:
        settings["data"] = identity
    return settings


BASE_FOLDER = "base"


def finished_checkpoints(out_dir: Path, task_cfg: TaskConfig,
                         train: TrainConfig) -> list[Path] | None:
    """The checkpoints of a finished run with these settings, or None if there is none."""
    manifest = out_dir / MANIFEST
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    if data.get("settings") != run_settings(task_cfg, train):
        raise BomergeError(
            f"{out_dir} holds a training run with other settings; remove it or choose "
            "another output folder"
        )
    return [out_dir / c["path"] for c in data["checkpoints"]]


def subsample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    if limit is None or limit >= len(examples):
        return examples
    picked = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in picked]


def start_point(task: Task, train: TrainConfig, examples: list[Example], out_dir: Path,
                device: torch.device | str, intermediate: Path | None = None) -> tuple[Any, Any]:
    """The start point θ_0 (pretrained encoder or tiny BERT, freshly initialised head),
    seeded by ``train.init_seed`` (default ``train.seed``) and saved in ``out_dir/base``:
    the base that task-vector merges of the run's checkpoints subtract. After intermediate
    training, the encoder is the ``intermediate`` model's (a tiny model with its
    vocabulary) and ``base`` is that post-intermediate start point. Returns the model, on
    ``device`` in training mode, and its tokenizer."""
    init_seed = train.seed if train.init_seed is None else train.init_seed
    torch.manual_seed(init_seed)
    if intermediate is not None:
        tokenizer = load_tokenizer(intermediate)
        with tempfile.TemporaryDirectory(dir=out_dir) as encoder:  # heads start fresh
            save_encoder(intermediate, Path(encoder))
            torch.manual_seed(init_seed)  # the heads' init, whatever loading the encoder drew
            model = task.new_model(Path(encoder), train.dropout)
    elif train.model == "tiny":
        sentences = [t for ex in examples for t in (ex.text_a, ex.text_b) if t]
        tokenizer = train_wordpiece(sentences, train.tiny.vocab_size)
        model = task.new_tiny_model(tokenizer, train.tiny, init_seed, train.dropout)
    else:
        folder = resolve_model_folder(train.model)
        tokenizer = load_tokenizer(folder)
        model = task.new_model(folder, train.dropout)
    model.save_pretrained(out_dir / BASE_FOLDER)
    tokenizer.save_pretrained(out_dir / BASE_FOLDER)
    model.to(device).train()
    if train.init_seed is not None:  # dropout follows the run's seed, not its start point
        torch.manual_seed(train.seed)
    return model, tokenizer


def optimizer_and_schedule(model: torch.nn.Module, train: TrainConfig,
                           total_steps: int) -> tuple[Any, Any]:
    """AdamW and the warm-up schedule (constant after it, SWA-style, or linear decay)."""
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=train.learning_rate, weight_decay=train.weight_decay
    )
    warmup = int(train.warmup_ratio * total_steps)
    scheduler = (
        get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
        if train.schedule == "linear"
        else get_constant_schedule_with_warmup(optimizer, warmup)
    )
    return optimizer, scheduler


def training_progress(show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]train[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not show,
    )


class SnapshotKeeper:
    """Counts optimiser steps, saves a Hugging Face folder every ``save_every`` steps (or
    epoch), keeps the last ``keep_last``, and writes the manifest that marks a run finished."""

    def __init__(self, out_dir: Path, train: TrainConfig, steps_per_epoch: int,
                 model: Any, tokenizer: Any) -> None:
        self.out_dir, self.train = out_dir, train
        self.steps_per_epoch = steps_per_epoch
        self.save_every = steps_per_epoch if train.save_every == "epoch" else train.save_every
        self.model, self.tokenizer = model, tokenizer
        self.kept: list[TrainedCheckpoint] = []
        self.step_count, self.running_loss = 0, 0.0

    def step(self, loss: float) -> float:
        """Record one optimiser step's loss; returns the running (EMA) loss."""
        self.step_count += 1
        step = self.step_count
        self.running_loss = 0.9 * self.running_loss + 0.1 * loss if step > 1 else loss
        if step % self.save_every == 0:
            path = self.out_dir / f"step-{step:06d}"
            self.model.save_pretrained(path)
            self.tokenizer.save_pretrained(path)
            self.kept.append(TrainedCheckpoint(path, step, step / self.steps_per_epoch,
                                               self.running_loss))
            while len(self.kept) > self.train.keep_last:
                shutil.rmtree(self.kept.pop(0).path)
        return self.running_loss

    def finish(self, settings: dict[str, object], train_rows: int, log_path: Path | None,
               started: float) -> list[Path]:
        manifest = {
            "settings": settings,
            "train_rows": train_rows,
            "checkpoints": [
                {"path": c.path.name, "step": c.step, "epoch": c.epoch, "train_loss": c.train_loss}
                for c in self.kept
            ],
        }
        # The manifest marks the run finished, so it is written last and atomically: a crash
        # before it leaves an unfinished run, which is retrained from the start.
        atomic_write(self.out_dir / MANIFEST, json.dumps(manifest, indent=2))
        if log_path is not None:
            append_jsonl(log_path, {"folder": str(self.out_dir), "settings": settings,
                                    "steps": self.step_count,
                                    "seconds": round(time.perf_counter() - started, 2)})
        return [c.path for c in self.kept]
