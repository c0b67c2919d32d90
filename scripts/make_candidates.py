"""Fine-tune the packaged all-MiniLM-L6-v2 on five GLUE tasks and keep the merge candidates
that ``scripts/results.py`` compares merging methods on.

Per task (RTE, MRPC, CoLA, STS-B, SST-2, from ``--data-root``):

* **swa** — one run at a constant learning rate after warm-up, a snapshot every 10 steps,
  the last 5 kept: the SWA candidates (Izmailov et al. 2018, "Averaging weights leads to
  wider optima and better generalization").
* **ft1, ft2, ft3** — three more fine-tunes with other learning rates, schedules and seeds
  (row subset, data order, dropout), all from the same start point (``init_seed``: the
  same fresh classifier head) as model soups require (Wortsman et al. 2022). The soup
  candidates are the final checkpoints of swa, ft1, ft2 and ft3.

Everything goes under ``--cache`` (default ``~/.cache/bomerge/glue-candidates``), outside
git. A finished run is found by its manifest and skipped; an interrupted one starts over, so
the script can be stopped and re-run at any time. ``candidates.json`` in each task folder
lists the SWA and soup candidates and the shared start point (the task-vector base).

    python scripts/make_candidates.py                       # all five tasks, in turn
    python scripts/make_candidates.py --tasks rte mrpc --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from bomerge.config import DataConfig, TaskConfig, TrainConfig
from bomerge.train.finetune import finetune
from bomerge.train.snapshots import BASE_FOLDER

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "glue"
DEFAULT_CACHE = Path(os.environ.get("BOMERGE_CACHE", Path.home() / ".cache" / "bomerge")) / "glue-candidates"
TASKS = ("rte", "mrpc", "cola", "stsb", "sst2")
MAX_LENGTH = 128

# The recipe, stated once: every run shares these settings and its start point (init_seed).
COMMON: dict[str, Any] = {
    "model": "minilm", "max_train_examples": 1600, "epochs": 1, "batch_size": 16,
    "weight_decay": 0.01, "warmup_ratio": 0.1, "init_seed": 0,
}
RUNS: dict[str, dict[str, Any]] = {
    "swa": {"seed": 0, "learning_rate": 1e-4, "schedule": "constant", "save_every": 10, "keep_last": 5},
    "ft1": {"seed": 1, "learning_rate": 5e-5, "schedule": "linear", "save_every": "epoch", "keep_last": 1},
    "ft2": {"seed": 2, "learning_rate": 1e-4, "schedule": "linear", "save_every": "epoch", "keep_last": 1},
    "ft3": {"seed": 3, "learning_rate": 1.5e-4, "schedule": "linear", "save_every": "epoch", "keep_last": 1},
}


def task_config(task: str, data_root: Path) -> TaskConfig:
    return TaskConfig(name=task, max_length=MAX_LENGTH, data=DataConfig(root=data_root, hub=False))


def make_task(task: str, data_root: Path, cache: Path) -> dict[str, Any]:
    """Train (or find) the four runs of one task and write its ``candidates.json``."""
    folder = cache / task
    runs: dict[str, list[Path]] = {}
    for run, settings in RUNS.items():
        started = time.perf_counter()
        train = TrainConfig(**COMMON, **settings)
        runs[run] = finetune(task_config(task, data_root), train, folder / run, show_progress=True,
                             log_path=folder / "training.jsonl")
        print(f"{task} {run}: {len(runs[run])} checkpoint(s) ({time.perf_counter() - started:.0f} s)",
              flush=True)
    listing = {
        "task": task,
        "max_length": MAX_LENGTH,
        "base": str(folder / "swa" / BASE_FOLDER),
        "swa": [str(p) for p in runs["swa"]],
        "soup": [str(runs[run][-1]) for run in RUNS],
        "recipe": {"common": COMMON, "runs": RUNS},
    }
    (folder / "candidates.json").write_text(json.dumps(listing, indent=1))
    return listing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"recipe: max_length {MAX_LENGTH}, {json.dumps(COMMON)}")
    for run, settings in RUNS.items():
        print(f"  {run}: {json.dumps(settings)}")
    for task in args.tasks:
        make_task(task, args.data_root.resolve(), args.cache.resolve())
    print(f"candidates under {args.cache.resolve()}")


if __name__ == "__main__":
    main()
