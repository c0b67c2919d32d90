"""Fine-tuning the CS224N multitask model, keeping the last k snapshots.

Three modes (``train.mode``):

* ``round_robin`` (default): each step takes the next batch of the next sub-task in turn
  (SST, Quora, STS, SST, ...), its loss scaled by the task's weight; an epoch passes once
  over every sub-task's rows (a sub-task whose rows ran out is skipped until the next epoch).
* ``pcgrad``: each step takes one batch of every sub-task, computes each task's gradient of
  the shared encoder separately, applies gradient surgery (``bomerge.train.pcgrad``, Yu et
  al. 2020) and steps on the weighted sum; each head takes its own task's weighted gradient.
  An epoch is as many steps as the largest sub-task has batches (smaller ones reshuffle and
  start over).
* ``single``: one sub-task (``train.tasks: [sst]``) alone.

``train.max_train_examples`` caps each sub-task's rows; ``train.task_weights`` weights the
sub-tasks in ``train.tasks`` order (default 1 each).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from bomerge.config import TaskConfig, TrainConfig
from bomerge.errors import BomergeError
from bomerge.multitask.data import MultitaskSpec, by_subtask
from bomerge.multitask.evaluate import PairBatch, tokenize_multitask
from bomerge.multitask.model import MultitaskBert, task_loss
from bomerge.tasks.data import Example, load_split
from bomerge.tasks.glue import get_task
from bomerge.train.finetune import (
    SnapshotKeeper,
    _settings,
    _subsample,
    optimizer_and_schedule,
    start_point,
    training_progress,
)
from bomerge.train.pcgrad import pcgrad

ENCODER_PREFIX = "bert."


def training_tasks(spec: MultitaskSpec, train: TrainConfig) -> tuple[list[str], list[float]]:
    """The trained sub-tasks and their weights; refuses unknown names or mismatched weights."""
    mode = train.mode or "round_robin"
    names = list(train.tasks) if train.tasks else [sub.name for sub in spec.subtasks]
    for name in names:
        spec.subtask(name)
    if mode == "single" and len(names) != 1:
        raise BomergeError(f"train.mode 'single' trains one sub-task; train.tasks lists {names}")
    weights = list(train.task_weights) if train.task_weights else [1.0] * len(names)
    if len(weights) != len(names):
        raise BomergeError(f"train.task_weights has {len(weights)} values for the "
                           f"{len(names)} sub-tasks {names}")
    return names, weights


class TaskStream:
    """One sub-task's shuffled training batches, reshuffled (seeded) when it runs out."""

    def __init__(self, batches: list[PairBatch], generator: torch.Generator) -> None:
        self.batches, self.generator = batches, generator
        self.order: list[int] = []

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self) -> Iterator[PairBatch]:
        for i in torch.randperm(len(self.batches), generator=self.generator).tolist():
            yield self.batches[i]

    def next(self) -> PairBatch:
        if not self.order:
            self.order = torch.randperm(len(self.batches), generator=self.generator).tolist()
        return self.batches[self.order.pop(0)]


def finetune_multitask(
    task_cfg: TaskConfig, train: TrainConfig, out_dir: Path, device: torch.device | str,
    show_progress: bool, log_path: Path | None, started: float,
) -> list[Path]:
    spec = get_task(task_cfg.name)
    assert isinstance(spec, MultitaskSpec)
    names, weights = training_tasks(spec, train)
    mode = train.mode or "round_robin"
    rows = by_subtask(load_split(spec, task_cfg.data, "train"), spec)  # type: ignore[arg-type]
    examples: list[Example] = [ex for name in names
                               for ex in _subsample(rows[name], train.max_train_examples, train.seed)]

    model, tokenizer = start_point(train, examples, 0, out_dir, device, multitask=True)

    generator = torch.Generator().manual_seed(train.seed)
    batches = tokenize_multitask(examples, tokenizer, spec, task_cfg.max_length, train.batch_size, "cpu")
    # Length-sorted batches are made once; their order is shuffled every epoch.
    streams = {name: TaskStream([b for b in batches if b.task == name], generator) for name in names}
    steps_per_epoch = (max(len(s) for s in streams.values()) if mode == "pcgrad"
                       else sum(len(s) for s in streams.values()))
    total_steps = steps_per_epoch * train.epochs
    optimizer, scheduler = optimizer_and_schedule(model, train, total_steps)
    keeper = SnapshotKeeper(out_dir, train, steps_per_epoch, model, tokenizer)
    weight_of = dict(zip(names, weights, strict=True))

    def step(loss_value: float, label: str) -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        running = keeper.step(loss_value)
        progress.update(bar, advance=1, description=f"cs224n {mode} {label} loss {running:.3f}")

    with training_progress(show_progress) as progress:
        bar = progress.add_task(f"cs224n {mode}", total=total_steps)
        for _ in range(train.epochs):
            if mode == "pcgrad":
                for _ in range(steps_per_epoch):
                    total = pcgrad_step(model, [streams[n].next() for n in names], weights,
                                        optimizer, generator, device)
                    step(total, "all")
            else:
                for batch in round_robin([streams[n].epoch() for n in names]):
                    optimizer.zero_grad(set_to_none=True)
                    loss = _batch_loss(model, batch, device)
                    (weight_of[batch.task] * loss).backward()
                    step(float(loss.detach()), batch.task)
    return keeper.finish(_settings(task_cfg, train), len(examples), log_path, started)


def round_robin(epochs: list[Iterator[PairBatch]]) -> Iterator[PairBatch]:
    """Batches from each iterator in turn, skipping exhausted ones, until all are done."""
    active = list(epochs)
    while active:
        still = []
        for it in active:
            batch = next(it, None)
            if batch is not None:
                still.append(it)
                yield batch
        active = still


def _batch_loss(model: MultitaskBert, batch: PairBatch, device: torch.device | str) -> torch.Tensor:
    inputs = {k: (v.to(device) if isinstance(v, torch.Tensor) else v)
              for k, v in batch.model_inputs().items()}
    return task_loss(batch.task, model(**inputs), batch.labels.to(device))


def pcgrad_step(model: MultitaskBert, batches: list[PairBatch], weights: list[float],
                optimizer: torch.optim.Optimizer, generator: torch.Generator,
                device: torch.device | str) -> float:
    """Set the gradients of one PCGrad step (surgery on the shared encoder, weighted own
    gradients on the heads); returns the weighted sum of the task losses."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    shared = [p for n, p in named if n.startswith(ENCODER_PREFIX)]
    heads = [p for n, p in named if not n.startswith(ENCODER_PREFIX)]
    task_gradients, head_total, total = [], [torch.zeros_like(p) for p in heads], 0.0
    for batch, weight in zip(batches, weights, strict=True):
        loss = _batch_loss(model, batch, device)
        grads = torch.autograd.grad(loss, shared + heads, allow_unused=True)
        task_gradients.append(torch.cat([
            (g if g is not None else torch.zeros_like(p)).reshape(-1)
            for g, p in zip(grads[: len(shared)], shared, strict=True)
        ]))
        for acc, g in zip(head_total, grads[len(shared):], strict=True):
            if g is not None:
                acc += weight * g
        total += weight * float(loss.detach())
    update = pcgrad(task_gradients, weights, generator)
    optimizer.zero_grad(set_to_none=True)
    offset = 0
    for p in shared:
        p.grad = update[offset : offset + p.numel()].view_as(p).clone()
        offset += p.numel()
    for p, g in zip(heads, head_total, strict=True):
        p.grad = g
    return total
