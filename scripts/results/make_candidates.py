"""Fine-tune the packaged all-MiniLM-L6-v2 on five GLUE tasks and keep the merge candidates
that ``scripts/results/results.py`` compares merging methods on.

Per task (RTE, MRPC, CoLA, STS-B, SST-2, from ``--data-root``), two stages:

* **warm** — one fine-tune of the pretrained encoder with a fresh head, long enough for the
  task to be learned (above its majority class): per-task rows, epochs and learning rate in
  ``WARM``. Its final checkpoint is the shared start point of every candidate and the
  task-vector base (model soups fine-tune from one start point: Wortsman et al. 2022, who
  start from a linear-probed model, LP-FT; here the start point is a short full fine-tune,
  which on a 2-core CPU is what makes five tasks affordable).
* **swa** — a run from the start point at a constant learning rate, a snapshot every 10
  steps, the last 5 kept: the SWA candidates (Izmailov et al. 2018, "Averaging weights leads
  to wider optima and better generalization").
* **ft1, ft2, ft3** — three more runs from the start point with other learning rates,
  schedules and seeds (row subset, data order, dropout). The soup candidates are the final
  checkpoints of swa, ft1, ft2 and ft3.

Everything goes under ``--cache`` (default ``~/.cache/bomerge/glue-candidates``), outside
git. A finished run is found by its manifest and skipped; an interrupted one starts over, so
the script can be stopped and re-run at any time. ``candidates.json`` in each task folder
lists the SWA and soup candidates, the shared start point (the task-vector base) and the
seconds each run took.

    python scripts/results/make_candidates.py                       # all five tasks, in turn
    python scripts/results/make_candidates.py --tasks rte mrpc --threads 1
    python scripts/results/make_candidates.py --warm-only           # the cross-task candidates only
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

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "glue"
DEFAULT_CACHE = (Path(os.environ.get("BOMERGE_CACHE", Path.home() / ".cache" / "bomerge"))
                 / "glue-candidates")
TASKS = ("rte", "mrpc", "cola", "stsb", "sst2")
# 128 tokens hold every MRPC, CoLA, STS-B and SST-2 row; 12% of RTE pairs are longer (99.9%
# fit in 256).
MAX_LENGTH: dict[str, int] = {"rte": 256, "mrpc": 128, "cola": 128, "stsb": 128, "sst2": 128}

# The recipe, stated once. Every run shares COMMON; the warm run's rows, epochs and rate are
# per task (None = all training rows); the candidate runs start from the warm checkpoint.
COMMON: dict[str, Any] = {"model": "minilm", "batch_size": 16, "weight_decay": 0.01,
                          "warmup_ratio": 0.1, "init_seed": 0}
WARM: dict[str, dict[str, Any]] = {
    "rte": {"max_train_examples": None, "epochs": 3, "learning_rate": 1e-4},
    "mrpc": {"max_train_examples": None, "epochs": 2, "learning_rate": 1e-4},
    "cola": {"max_train_examples": None, "epochs": 2, "learning_rate": 1e-4},
    "stsb": {"max_train_examples": 3200, "epochs": 1, "learning_rate": 1e-4},
    "sst2": {"max_train_examples": 4000, "epochs": 1, "learning_rate": 1e-4},
}
WARM_RUN: dict[str, Any] = {"seed": 0, "schedule": "linear", "save_every": "epoch", "keep_last": 1}
CANDIDATE_ROWS = 800
RUNS: dict[str, dict[str, Any]] = {
    "swa": {"seed": 1, "learning_rate": 5e-5, "schedule": "constant", "save_every": 10,
            "keep_last": 5},
    "ft1": {"seed": 2, "learning_rate": 3e-5, "schedule": "linear", "save_every": "epoch",
            "keep_last": 1},
    "ft2": {"seed": 3, "learning_rate": 6e-5, "schedule": "linear", "save_every": "epoch",
            "keep_last": 1},
    "ft3": {"seed": 4, "learning_rate": 1e-4, "schedule": "linear", "save_every": "epoch",
            "keep_last": 1},
}


def task_config(task: str, data_root: Path) -> TaskConfig:
    return TaskConfig(name=task, max_length=MAX_LENGTH[task],
                      data=DataConfig(root=data_root, hub=False))


def make_task(task: str, data_root: Path, cache: Path, warm_only: bool = False) -> dict[str, Any]:
    """Train (or find) the warm run and the four candidate runs of one task and write its
    ``candidates.json`` (with ``warm_only``, the warm run alone: what the cross-task table
    merges; the listing then names no SWA or soup candidates)."""
    folder = cache / task
    seconds: dict[str, float] = {}

    def run(name: str, train: TrainConfig) -> list[Path]:
        started = time.perf_counter()
        kept = finetune(task_config(task, data_root), train, folder / name, show_progress=True,
                        log_path=folder / "training.jsonl")
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"{task} {name}: {len(kept)} checkpoint(s) ({seconds[name]:.0f} s)", flush=True)
        return kept

    warm = run("warm", TrainConfig(**COMMON, **WARM_RUN, **WARM[task]))[-1]
    chosen = {} if warm_only else RUNS
    runs = {name: run(name, TrainConfig(**{**COMMON, "model": str(warm)},
                                        max_train_examples=CANDIDATE_ROWS, epochs=1, **settings))
            for name, settings in chosen.items()}
    listing = {
        "task": task,
        "max_length": MAX_LENGTH[task],
        "warm": str(warm),
        "base": str(folder / "swa" / BASE_FOLDER),
        "swa": [str(p) for p in runs.get("swa", [])],
        "soup": [str(runs[name][-1]) for name in chosen],
        "recipe": {"common": COMMON, "warm": {**WARM_RUN, **WARM[task]},
                   "candidate_rows": CANDIDATE_ROWS, "runs": RUNS},
        "seconds": _recorded_seconds(folder / "training.jsonl", seconds),
    }
    (folder / "candidates.json").write_text(json.dumps(listing, indent=1))
    return listing


def _recorded_seconds(log: Path, measured: dict[str, float]) -> dict[str, float]:
    """Training seconds per run: from the log of trained runs (a run found finished took
    no time now, but its training did)."""
    recorded = dict(measured)
    if log.is_file():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            recorded[Path(entry["folder"]).name] = entry["seconds"]
    return recorded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--warm-only", action="store_true",
                        help="only the warm run of each task (the cross-task candidates)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"recipe: {json.dumps(COMMON)}; candidate runs: {CANDIDATE_ROWS} rows from the "
          "warm checkpoint")
    for task in args.tasks:
        print(f"  {task} warm (max_length {MAX_LENGTH[task]}): "
              f"{json.dumps({**WARM_RUN, **WARM[task]})}")
    for run, settings in RUNS.items():
        print(f"  {run}: {json.dumps(settings)}")
    for task in args.tasks:
        make_task(task, args.data_root.resolve(), args.cache.resolve(), args.warm_only)
    print(f"candidates under {args.cache.resolve()}")


if __name__ == "__main__":
    main()
