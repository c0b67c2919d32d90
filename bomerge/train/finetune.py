"""Fine-tuning that keeps the last k snapshots: the candidates of SWA-style merging.

A run fine-tunes a classifier on a task's training rows with AdamW, saves a Hugging Face
folder every ``save_every`` steps (or at each epoch end) and keeps the last ``keep_last``.
With a constant learning rate after warm-up (the default), the kept snapshots are the
trajectory stochastic weight averaging (Izmailov et al., 2018) averages, and whose
weighting MOBO-SWA (Jang et al., 2024) searches.

A finished run writes ``train.json``; calling again with the same settings returns its
checkpoints without retraining, and different settings are refused instead of mixed.
"""

from __future__ import annotations

import json
import random
import shutil
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
from bomerge.models import build_tiny_model, load_classifier, load_tokenizer, resolve_model_folder
from bomerge.tasks.data import Example, load_split
from bomerge.tasks.encode import encode_examples, pad_rows
from bomerge.tasks.glue import TaskSpec, get_task

MANIFEST = "train.json"


@dataclass(frozen=True)
class TrainedCheckpoint:
    path: Path
    step: int
    epoch: float
    train_loss: float


def _settings(task_cfg: TaskConfig, train: TrainConfig) -> dict[str, object]:
    dumped = train.model_dump(mode="json")
    for key in ("mode", "tasks", "task_weights", "init_seed"):  # absent unless set, so runs
        if dumped[key] is None:                                 # recorded before them match
            del dumped[key]
    return {"task": task_cfg.name, "max_length": task_cfg.max_length, "train": dumped}


BASE_FOLDER = "base"


def finished_checkpoints(out_dir: Path, task_cfg: TaskConfig, train: TrainConfig) -> list[Path] | None:
    """The checkpoints of a finished run with these settings, or None if there is none."""
    manifest = out_dir / MANIFEST
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    if data.get("settings") != _settings(task_cfg, train):
        raise BomergeError(
            f"{out_dir} holds a training run with other settings; remove it or choose "
            "another output folder"
        )
    return [out_dir / c["path"] for c in data["checkpoints"]]


def _subsample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    if limit is None or limit >= len(examples):
        return examples
    picked = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in picked]


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
    started = time.perf_counter()
    if out_dir.exists():
        shutil.rmtree(out_dir)  # an unfinished run: training is deterministic, start over
    out_dir.mkdir(parents=True)
    task = get_task(task_cfg.name)
    if task.is_multitask:
        from bomerge.train.multitask import finetune_multitask

        return finetune_multitask(task_cfg, train, out_dir, device, show_progress, log_path, started)
    examples = _subsample(load_split(task, task_cfg.data, "train"), train.max_train_examples, train.seed)

    model, tokenizer = start_point(train, examples, task.num_labels, out_dir, device)

    encoded = encode_examples(examples, tokenizer, task, task_cfg.max_length)
    steps_per_epoch = -(-len(examples) // train.batch_size)
    total_steps = steps_per_epoch * train.epochs
    optimizer, scheduler = optimizer_and_schedule(model, train, total_steps)
    generator = torch.Generator().manual_seed(train.seed)
    keeper = SnapshotKeeper(out_dir, train, steps_per_epoch, model, tokenizer)

    with training_progress(show_progress) as progress:
        bar = progress.add_task(f"{task.name} ({len(examples)} rows)", total=total_steps)
        for epoch in range(train.epochs):
            order = torch.randperm(len(examples), generator=generator).tolist()
            for start in range(0, len(order), train.batch_size):
                rows = order[start : start + train.batch_size]
                batch = {k: v.to(device) for k, v in pad_rows(encoded, rows).items()}
                loss = _loss(model, batch, task)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                running = keeper.step(float(loss.detach()))
                progress.update(bar, advance=1, description=f"{task.name} loss {running:.3f}")
    return keeper.finish(_settings(task_cfg, train), len(examples), log_path, started)


def start_point(train: TrainConfig, examples: list[Example], num_labels: int, out_dir: Path,
                device: torch.device | str, multitask: bool = False) -> tuple[Any, Any]:
    """The start point θ_0 (pretrained encoder or tiny BERT, freshly initialised head),
    seeded by ``train.init_seed`` (default ``train.seed``) and saved in ``out_dir/base``:
    the base that task-vector merges of the run's checkpoints subtract. Returns the model,
    on ``device`` in training mode, and its tokenizer."""
    init_seed = train.seed if train.init_seed is None else train.init_seed
    torch.manual_seed(init_seed)
    if train.model == "tiny":
        sentences = [t for ex in examples for t in (ex.text_a, ex.text_b) if t]
        model, tokenizer = build_tiny_model(sentences, num_labels, train.tiny, init_seed,
                                            train.dropout, multitask=multitask)
    else:
        folder = resolve_model_folder(train.model)
        tokenizer = load_tokenizer(folder)
        if multitask:
            from bomerge.multitask.model import new_multitask_model

            model = new_multitask_model(str(folder), train.dropout)
        else:
            model = load_classifier(folder, num_labels, train.dropout)
    model.save_pretrained(out_dir / BASE_FOLDER)
    tokenizer.save_pretrained(out_dir / BASE_FOLDER)
    model.to(device).train()
    if train.init_seed is not None:  # dropout follows the run's seed, not its start point
        torch.manual_seed(train.seed)
    return model, tokenizer


def optimizer_and_schedule(model: torch.nn.Module, train: TrainConfig, total_steps: int) -> tuple[Any, Any]:
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
            self.kept.append(TrainedCheckpoint(path, step, step / self.steps_per_epoch, self.running_loss))
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


def _loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], task: TaskSpec) -> torch.Tensor:
    logits = model(
        input_ids=batch["input_ids"],
        token_type_ids=batch["token_type_ids"],
        attention_mask=batch["attention_mask"],
    ).logits
    if task.is_regression:
        return torch.nn.functional.mse_loss(logits.squeeze(-1), batch["labels"])
    return torch.nn.functional.cross_entropy(logits, batch["labels"])
