"""The one-head fine-tuning loop: every epoch, the rows in a fresh seeded order, cut into
batches.

With a constant learning rate after warm-up (the default), the kept snapshots are the
trajectory stochastic weight averaging (Izmailov et al., 2018) averages, and whose
weighting MOBO-SWA (Jang et al., 2024) searches. ``train.smart`` adds SMART's terms to the
loss (``bomerge.train.smart``); the logged loss stays the task's own.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bomerge.train.smart import batch_objective, smart_for
from bomerge.train.snapshots import (
    SnapshotKeeper,
    TrainingRun,
    optimizer_and_schedule,
    start_point,
    subsample,
    training_progress,
)


def train_shuffled(run: TrainingRun) -> list[Path]:
    """Fine-tune on the task's training rows (capped at ``train.max_train_examples``, a
    seeded sample), saving snapshots as ``train`` says; returns the kept folders."""
    task, task_cfg, train, device = run.task, run.task_cfg, run.train, run.device
    examples = subsample(task.load_split(task_cfg.data, "train"), train.max_train_examples,
                         train.seed)

    model, tokenizer = start_point(task, train, examples, run.out_dir, device, run.intermediate)
    smart = smart_for(train.smart, task, model)  # refuses a model it cannot perturb, before step 1

    encoded = task.encode(examples, tokenizer, task_cfg.max_length)
    steps_per_epoch = -(-len(examples) // train.batch_size)
    total_steps = steps_per_epoch * train.epochs
    optimizer, scheduler = optimizer_and_schedule(model, train, total_steps)
    generator = torch.Generator().manual_seed(train.seed)
    keeper = SnapshotKeeper(run.out_dir, train, steps_per_epoch, model, tokenizer)

    with training_progress(run.show_progress) as progress:
        bar = progress.add_task(f"{task.name} ({len(examples)} rows)", total=total_steps)
        for _ in range(train.epochs):
            order = torch.randperm(len(examples), generator=generator).tolist()
            for start in range(0, len(order), train.batch_size):
                batch = task.collate(encoded, order[start : start + train.batch_size])
                objective, loss = batch_objective(task, model, batch, device, smart)
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                if smart is not None:
                    smart.after_step()
                running = keeper.step(float(loss.detach()))
                progress.update(bar, advance=1, description=f"{task.name} loss {running:.3f}")
    if smart is not None:
        smart.close()
    return run.finish(keeper, len(examples))
