"""The results table: does BO-tuned merging beat every fixed recipe on rows the search never
saw? Writes ``docs/RESULTS.md``.

Each task's dev.tsv is split deterministically in two halves (bomerge's sha256 split,
``task.eval.selection_fraction: 0.5``): the **selection** half is all that any search, any
greedy choice and any pick sees; every number in the tables is the **report** half.

For each task and each candidate set that ``scripts/results/make_candidates.py`` wrote —

* **swa**: the last 5 snapshots of one constant-rate run;
* **soup**: the final checkpoints of 4 fine-tunes from one start point —

one *fixed* study runs every fixed recipe through the study's evaluator: each single
checkpoint (reported as the best one by selection metric, and the last one), the uniform
average (uniform SWA / uniform soup), greedy soup, Fisher, RegMean, MaTS, task arithmetic,
TIES and Localize-and-Stitch, at their papers' defaults. Then, for 3 search seeds, the
project's block-wise search (``merge.granularity: block``, ``--blocks`` blocks of encoder
layers, so one simplex per group: embeddings, each block, the head) with the SAAS-prior GP
(``search.strategy: saas``) under qLogNEHVI, over the merge weights (both sets) and over
Fisher λ (soup set), each with the same budget: the model-level warm-start arms (the k
single checkpoints and the uniform average, plus uniform-λ Fisher for the Fisher study)
lifted into the block space, then ``--trials`` search trials (``--initial-trials`` Sobol
points, the rest qLogNEHVI on selection loss and metric), picked by best selection metric.
Each MOBO row carries its paired bootstrap interval against greedy soup and uniform
(``results_intervals.py``).

Every study lives under ``--work`` (outside git) and a finished one is skipped, so the
script resumes where it stopped; ``--tasks`` lets two processes share the tasks, and
``--write-only`` assembles the tables from what is there.

    python scripts/results/make_candidates.py
    python scripts/results/results.py                       # every task, then docs/RESULTS.md
    python scripts/results/results.py --tasks rte mrpc      # a share of the work; then --write-only

The multitask table (``--multitask``) runs ``configs/cs224n-multitask.yaml`` (PCGrad
fine-tuning, its snapshots as candidates, greedy soup and Fisher baselines) and two more
search seeds over the same candidates.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from bomerge.config import parse_config
from bomerge.search.config_names import check_names
from bomerge.search.runner import StudyRunner
from bomerge.search.study.store import StudyStore

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "results"))
from make_candidates import DEFAULT_CACHE, DEFAULT_DATA, TASKS  # noqa: E402
from results_tables import SEARCHES, search_name, write_results  # noqa: E402

FIXED = ["candidates", "uniform", "greedy_soup", "fisher", "regmean", "mats", "task_arithmetic",
         "ties", "localize_stitch"]


def study_data(args: argparse.Namespace, task: str, listing: dict[str, Any], setting: str,
               name: str, method: str, seed: int | None) -> dict[str, Any]:
    """The study config: a fixed study (``seed`` None) or one search seed."""
    search: dict[str, Any] = (
        {"trials": 0, "initial_trials": 1, "warm_start": True} if seed is None else
        {"trials": args.trials, "initial_trials": args.initial_trials, "baselines": True,
         "overlap": True, "pick": "best_metric", "strategy": "saas"}
    )
    if seed is None:  # the fixed study: MaTS is its method so that its options apply
        method, options = "mats", {"iterations": args.mats_iterations}
    else:
        options = {}
    data: dict[str, Any] = {
        "name": name, "studies_dir": str(args.work / "studies"), "seed": seed or 0,
        "device": args.device,
        "task": {"name": task, "max_length": listing["max_length"],
                 "data": {"root": str(args.data_root), "hub": False},
                 "eval": {"split": "dev", "selection_fraction": 0.5,
                          "max_selection_examples": args.selection_rows}},
        "candidates": {"paths": listing[setting], "base": listing["base"]},
        "merge": {"method": method, "options": options,
                  "statistics": {"examples": args.statistics_rows}},
        "search": search,
    }
    if seed is None:
        data["baselines"] = FIXED
    else:  # the searches are block-wise: one simplex (or λ simplex) per group
        data["merge"] |= {"granularity": "block", "blocks": args.blocks}
    return data


def run_study(args: argparse.Namespace, data: dict[str, Any], statistics_dir: Path,
              baselines: list[str] | None = None) -> dict[str, Any]:
    """Run (or find finished) one study; returns its summary: result and wall seconds.

    A study folder left by an interrupted run is resumed (its wall time then counts only
    this run: ``resumed`` says so). ``baselines`` are run after the search, and the result
    rewritten with them."""
    summary_path = args.work / "summaries" / f"{data['name']}.json"
    if summary_path.is_file():
        return json.loads(summary_path.read_text())
    source = f"results.py:{data['name']}"
    config = check_names(parse_config(data, source, REPO), source)
    store = StudyStore(config.study_dir)
    resumed = store.exists()
    if not resumed:
        store.create(config)
        # Statistics are keyed by content (candidate and rows fingerprints), so the fixed
        # study's Fisher statistics serve the Fisher-λ searches on the same candidates.
        statistics_dir.mkdir(parents=True, exist_ok=True)
        if store.statistics_dir.exists():
            store.statistics_dir.rmdir()
        store.statistics_dir.symlink_to(statistics_dir, target_is_directory=True)
    started = time.perf_counter()
    runner = StudyRunner(store, config, show_progress=False)
    runner.run()
    if baselines:
        runner.run_baselines(baselines)
        runner.finish()
    wall = time.perf_counter() - started
    summary = {"name": data["name"], "wall_s": round(wall, 1), "resumed": resumed,
               "result": json.loads(store.result_path.read_text()),
               "baselines": store.read_baselines()}
    summary_path.parent.mkdir(parents=True, exist_ok=True)
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary


def run_task(args: argparse.Namespace, task: str) -> None:
    listing = json.loads((args.cache / task / "candidates.json").read_text())
    for setting, methods in SEARCHES.items():
        shared = args.work / "statistics" / task
        started = time.perf_counter()
        fixed = run_study(args, study_data(args, task, listing, setting, f"{task}-{setting}-fixed",
                                           "mats", None), shared)
        print(f"{task} {setting} fixed recipes: {fixed['wall_s']:.0f} s "
              f"({time.perf_counter() - started:.0f} s now)", flush=True)
        for method in methods:
            for seed in range(args.seeds):
                name = search_name(task, setting, method, seed)
                summary = run_study(
                    args, study_data(args, task, listing, setting, name, method, seed), shared)
                pick = summary["result"]["scores"]["pick"]
                print(f"{name}: report {pick['report']['metric']:.4f} "
                      f"({summary['wall_s']:.0f} s)", flush=True)


def run_multitask(args: argparse.Namespace) -> None:
    """The CS224N protocol: the committed config (trains PCGrad candidates, greedy soup and
    Fisher baselines, its model-level search), then the block-wise SAAS searches over the
    same candidates, one per seed."""
    raw = yaml.safe_load((REPO / "configs" / "cs224n-multitask.yaml").read_text())
    raw["studies_dir"] = str(args.work / "studies")
    raw["task"]["data"]["root"] = str(args.cs224n_root)
    run_study(args, raw, args.work / "statistics" / "cs224n", baselines=["greedy_soup", "fisher"])
    candidates = args.work / "studies" / raw["name"] / "candidates"
    for seed in range(args.seeds):
        data = {k: v for k, v in raw.items() if k not in ("train", "baselines")} | {
            "name": f"{raw['name']}-block-s{seed}", "seed": seed,
            "candidates": {"glob": [str(candidates / "step-*")], "base": str(candidates / "base")},
            "merge": raw["merge"] | {"granularity": "block", "blocks": args.blocks},
            "search": raw["search"] | {"strategy": "saas", "baselines": True, "overlap": True},
        }
        summary = run_study(args, data, args.work / "statistics" / "cs224n")
        print(f"{data['name']}: report "
              f"{summary['result']['scores']['pick']['report']['metric']:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", choices=TASKS, default=list(TASKS))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="make_candidates.py's folder")
    parser.add_argument("--work", type=Path, default=DEFAULT_CACHE.parent / "results")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cs224n-root", type=Path, default=DEFAULT_DATA.parent / "cs224n")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "RESULTS.md")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--initial-trials", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=3,
                        help="blocks of encoder layers of the block-wise searches")
    parser.add_argument("--selection-rows", type=int, default=200)
    parser.add_argument("--statistics-rows", type=int, default=64,
                        help="training rows for Fisher, RegMean and MaTS statistics")
    parser.add_argument("--mats-iterations", type=int, default=30,
                        help="MaTS conjugate-gradient iterations (paper: 100)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--multitask", action="store_true", help="also the CS224N table")
    parser.add_argument("--write-only", action="store_true", help="only assemble docs/RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="run studies, leave RESULTS.md")
    args = parser.parse_args()
    args.cache, args.work = args.cache.resolve(), args.work.resolve()
    args.data_root, args.cs224n_root = args.data_root.resolve(), args.cs224n_root.resolve()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.write_only:
        for task in args.tasks:
            run_task(args, task)
        if args.multitask:
            run_multitask(args)
    if not args.no_write:
        write_results(args)


if __name__ == "__main__":
    main()
