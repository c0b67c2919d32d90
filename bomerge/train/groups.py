"""Fine-tuning a task with several heads (one per sub-task's rows), keeping the last k
snapshots.

Three modes (``train.mode``):

* ``round_robin``: each step takes the next batch of the next head's rows in turn, its loss
  scaled by the head's weight; an epoch passes once over every head's rows (a head whose
  rows ran out is skipped until the next epoch).
* ``pcgrad``: each step takes one batch of every head, computes each head's gradient of
  the shared encoder separately, applies gradient surgery (``bomerge.train.pcgrad``, Yu et
  al. 2020) and steps on the weighted sum; each head takes its own weighted gradient.
  An epoch is as many steps as the largest head has batches (smaller ones reshuffle and
  start over).
* ``single``: one head (``train.tasks: [NAME]``) alone.

``train.max_train_examples`` caps each head's rows; ``train.task_weights`` weights the
heads in ``train.tasks`` order (default 1 each). The shared encoder is the model's
``base_model_prefix`` module; every other parameter belongs to a head. ``train.smart`` adds
SMART's terms to each head's loss before it is weighted, or its gradient taken for the
surgery (``bomerge.train.smart``); the logged losses stay the heads' own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from bomerge.errors import BomergeError
from bomerge.tasks.base import Batch, Example, Task
from bomerge.train.pcgrad import pcgrad
from bomerge.train.smart import Smart, batch_objective, smart_for
from bomerge.train.snapshots import (
    SnapshotKeeper,
    TrainingRun,
    optimizer_and_schedule,
    start_point,
    subsample,
    training_progress,
)


class TaskStream:
    """One sub-task's shuffled training batches, reshuffled (seeded) when it runs out."""

    def __init__(self, batches: list[Batch], generator: torch.Generator) -> None:
        self.batches, self.generator = batches, generator
        self.order: list[int] = []

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self) -> Iterator[Batch]:
        for i in torch.randperm(len(self.batches), generator=self.generator).tolist():
            yield self.batches[i]

    def next(self) -> Batch:
        if not self.order:
            self.order = torch.randperm(len(self.batches), generator=self.generator).tolist()
        return self.batches[self.order.pop(0)]


def train_heads(run: TrainingRun) -> list[Path]:
    """Fine-tune the heads of ``run.plan`` with its mode (round_robin, pcgrad or single);
    returns the kept snapshot folders."""
    task, task_cfg, train, device = run.task, run.task_cfg, run.train, run.device
    mode, names, weights = run.plan.mode, list(run.plan.heads), list(run.plan.weights)
    if mode == "single" and len(names) != 1:
        raise BomergeError(f"train.mode 'single' trains one sub-task; train.tasks lists {names}")
    rows = task.rows_by_head(task.load_split(task_cfg.data, "train"))
    examples: list[Example] = [
        ex for name in names
        for ex in subsample(rows[name], train.max_train_examples, train.seed)
    ]

    model, tokenizer = start_point(task, train, examples, run.out_dir, device, run.intermediate)
    smart = smart_for(train.smart, task, model)  # refuses a model it cannot perturb, before step 1

    generator = torch.Generator().manual_seed(train.seed)
    batches = task.batches(examples, tokenizer, task_cfg.max_length, train.batch_size, "cpu")
    # Length-sorted batches are made once; their order is shuffled every epoch.
    streams = {name: TaskStream([b for b in batches if b.head == name], generator)
               for name in names}
    steps_per_epoch = (max(len(s) for s in streams.values()) if mode == "pcgrad"
                       else sum(len(s) for s in streams.values()))
    total_steps = steps_per_epoch * train.epochs
    optimizer, scheduler = optimizer_and_schedule(model, train, total_steps)
    keeper = SnapshotKeeper(run.out_dir, train, steps_per_epoch, model, tokenizer)
    weight_of = dict(zip(names, weights, strict=True))

    def step(loss_value: float, label: str) -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        if smart is not None:
            smart.after_step()
        running = keeper.step(loss_value)
        progress.update(bar, advance=1,
                        description=f"{task.name} {mode} {label} loss {running:.3f}")

    with training_progress(run.show_progress) as progress:
        bar = progress.add_task(f"{task.name} {mode}", total=total_steps)
        for _ in range(train.epochs):
            if mode == "pcgrad":
                for _ in range(steps_per_epoch):
                    total = pcgrad_step(task, model, [streams[n].next() for n in names], weights,
                                        optimizer, generator, device, smart)
                    step(total, "all")
            else:
                for batch in round_robin([streams[n].epoch() for n in names]):
                    optimizer.zero_grad(set_to_none=True)
                    objective, loss = batch_objective(task, model, batch, device, smart)
                    (weight_of[batch.head] * objective).backward()
                    step(float(loss.detach()), batch.head)
    if smart is not None:
        smart.close()
    return run.finish(keeper, len(examples))


def round_robin(epochs: list[Iterator[Batch]]) -> Iterator[Batch]:
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


def pcgrad_step(task: Task, model: nn.Module, batches: list[Batch], weights: list[float],
                optimizer: torch.optim.Optimizer, generator: torch.Generator,
                device: torch.device | str, smart: Smart | None = None) -> float:
    """Set the gradients of one PCGrad step (surgery on the shared encoder, weighted own
    gradients on the heads), each head's gradient taken of its objective (``smart``: with
    SMART's terms); returns the weighted sum of the task losses."""
    encoder = f"{model.base_model_prefix}."
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    shared = [p for n, p in named if n.startswith(encoder)]
    heads = [p for n, p in named if not n.startswith(encoder)]
    task_gradients, head_total, total = [], [torch.zeros_like(p) for p in heads], 0.0
    for batch, weight in zip(batches, weights, strict=True):
        objective, loss = batch_objective(task, model, batch, device, smart)
        grads = torch.autograd.grad(objective, shared + heads, allow_unused=True)
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
