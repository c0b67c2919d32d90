"""The cross-task table: five MiniLM models, each fine-tuned on a different GLUE task, merged
into one encoder with every task's head (``task: multi``). Writes ``<work>/cross_task.md``,
which ``results.py`` (``results_tables.write_results``) puts into ``docs/RESULTS.md``.

The candidates are the *warm* checkpoints ``make_candidates.py`` trains (one per task, each
from the packaged MiniLM with a fresh head), so the base is MiniLM itself. Each task's dev
split is cut into selection and report halves as in ``results.py``; searches see at most
``--selection-rows`` selection rows per task, every report row is scored.

* ``cross-fixed``: every fixed recipe through the study's evaluator: each candidate alone on
  every task, each task's individual model (the reference of the normalised scores), the
  simple average, greedy soup, Fisher (uniform λ), RegMean, MaTS, task arithmetic λ = 0.3,
  TIES, Localize-and-Stitch (data-free), and task arithmetic at the λ a grid on the
  selection rows picks (0.1 … 1.0);
* ``cross-ls-learned``: Localize-and-Stitch with masks learned on each task's own rows;
* ``cross-ta-gp-s<seed>``: MOBO over task arithmetic with one λ per task vector
  (task-wise, the AdaMerging shape searched by BO), ``gp`` (qLogNEHVI on mean loss and
  normalised average), starting from the fixed recipes of that space (λ = 0.3, the
  simple average λ = 1/K, the grid's λ);
* ``cross-ta-block-saas-s<seed>``: the same per group (embeddings, ``--blocks`` blocks of
  encoder layers, pooler): 5 × K λs under the SAAS-prior GP.

    python scripts/results_cross_task.py            # then: python scripts/results.py --write-only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from make_candidates import DEFAULT_CACHE, DEFAULT_DATA  # noqa: E402
from results import run_study  # noqa: E402
from results_intervals import interval_cell, seed_mean_difference  # noqa: E402

TASKS = ("sst2", "mrpc", "cola", "stsb", "rte")
TITLES = {"sst2": "SST-2 acc", "mrpc": "MRPC acc", "cola": "CoLA MCC", "stsb": "STS-B r",
          "rte": "RTE acc"}
FIXED = ["candidates", "individual", "uniform", "greedy_soup", "fisher", "regmean", "mats",
         "task_arithmetic", "ties", "localize_stitch", "task_arithmetic_grid"]
ROWS = [("individual", "individual models (reference)"), ("uniform", "simple average"),
        ("greedy_soup", "greedy soup"), ("fisher", "Fisher (uniform λ)"), ("regmean", "RegMean"),
        ("mats", "MaTS"), ("task_arithmetic", "task arithmetic λ = 0.3"),
        ("task_arithmetic_grid", "task arithmetic, grid-best λ"), ("ties", "TIES"),
        ("localize_stitch", "Localize-and-Stitch (data-free)")]
SEARCHES = {"ta-gp": ("MOBO task-wise λ (gp)", "model", "gp"),
            "ta-block-saas": ("MOBO block-wise λ (saas)", "block", "saas")}


def warm_checkpoint(cache: Path, task: str) -> tuple[Path, int]:
    listing = json.loads((cache / task / "candidates.json").read_text())
    return sorted((cache / task / "warm").glob("step-*"))[-1], listing["max_length"]


def base_data(args: argparse.Namespace, name: str) -> dict[str, Any]:
    paths, sections = [], []
    for task in TASKS:
        folder, length = warm_checkpoint(args.cache, task)
        paths.append(str(folder))
        sections.append({"name": task, "max_length": length,
                         "data": {"root": str(args.data_root), "hub": False}})
    return {
        "name": name, "studies_dir": str(args.work / "studies"), "seed": 0, "device": args.device,
        "task": {"name": "multi", "tasks": sections,
                 "eval": {"selection_fraction": 0.5, "max_selection_examples": args.selection_rows}},
        "candidates": {"paths": paths, "tasks": list(TASKS), "base": "minilm"},
        "merge": {"method": "task_arithmetic", "options": {"per_candidate": True},
                  "statistics": {"examples": args.statistics_rows}},
        "search": {"trials": 0, "initial_trials": 1, "warm_start": True},
    }


def run_all(args: argparse.Namespace) -> None:
    statistics = args.work / "statistics" / "cross"
    fixed = base_data(args, "cross-fixed") | {"baselines": FIXED}
    summary = run_study(args, fixed, statistics)
    print(f"cross-fixed: {summary['wall_s']:.0f} s", flush=True)
    learned = base_data(args, "cross-ls-learned") | {"baselines": ["localize_stitch"]}
    learned["merge"] = learned["merge"] | {"method": "localize_stitch", "options": {"mask": "learned"}}
    summary = run_study(args, learned, statistics)
    print(f"cross-ls-learned: {summary['wall_s']:.0f} s", flush=True)
    grid = fixed_summary(args)["baselines"]["task_arithmetic_grid"]["coefficients"]["lambda"]
    k = len(TASKS)
    points = [{f"lambda_{i}": value for i in range(k)} for value in sorted({0.3, 1 / k, grid})]
    for key, (_, granularity, strategy) in SEARCHES.items():
        for seed in range(args.seeds):
            data = base_data(args, f"cross-{key}-s{seed}")
            data["seed"] = seed
            data["search"] = {"trials": args.trials, "initial_trials": args.initial_trials,
                              "baselines": False, "overlap": True, "strategy": strategy,
                              "objectives": "average", "points": points}
            if granularity == "block":
                data["merge"] = data["merge"] | {"granularity": "block", "blocks": args.blocks}
            summary = run_study(args, data, statistics)
            pick = summary["result"]["scores"]["pick"]["report"]
            print(f"{data['name']}: report normalised {pick['metric']:.4f} absolute "
                  f"{pick['absolute']:.4f} ({summary['wall_s']:.0f} s)", flush=True)


def fixed_summary(args: argparse.Namespace) -> dict[str, Any]:
    return json.loads((args.work / "summaries" / "cross-fixed.json").read_text())


def summary_of(args: argparse.Namespace, name: str) -> dict[str, Any] | None:
    path = args.work / "summaries" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def row(label: str, scores: list[dict[str, float]], seconds: str) -> str:
    def cell(values: list[float]) -> str:
        mean = 100 * float(np.mean(values))
        return f"{mean:.1f}" if len(values) == 1 else f"{mean:.1f} ± {100 * float(np.std(values)):.1f}"

    cells = [cell([s[t] for s in scores]) for t in TASKS]
    return (f"| {label} | " + " | ".join(cells) + f" | {cell([s['absolute'] for s in scores])} | "
            f"**{cell([s['metric'] for s in scores])}** | {seconds} |")


def baseline_seconds(baseline: dict[str, Any]) -> str:
    return f"{baseline['seconds']['wall']:.0f}"


def write_table(args: argparse.Namespace) -> Path | None:
    fixed = summary_of(args, "cross-fixed")
    if fixed is None:
        return None
    baselines = fixed["baselines"]
    head = " | ".join(TITLES[t] for t in TASKS)
    lines = [f"| method | {head} | average | normalised | wall s |",
             "|" + "---|" * (len(TASKS) + 4)]
    singles = sorted((b for label, b in baselines.items() if label.startswith("candidate_")),
                     key=lambda b: b["label"])
    for b, task in zip(singles, TASKS, strict=True):
        lines.append(row(f"{TITLES[task].split()[0]} model on every task", [b["report"]],
                         baseline_seconds(b)))
    for label, title in ROWS:
        if label in baselines:
            lines.append(row(title, [baselines[label]["report"]], baseline_seconds(baselines[label])))
    learned = summary_of(args, "cross-ls-learned")
    if learned and "localize_stitch" in learned["baselines"]:
        b = learned["baselines"]["localize_stitch"]
        # its masks are learned as its study opens (the study's own method): the study's wall
        lines.append(row("Localize-and-Stitch (learned masks)", [b["report"]],
                         f"{learned['wall_s']:.0f}"))
    fixed_rows = {label: baselines[label] for label, _ in ROWS
                  if label in baselines and label != "individual"}
    best = max(fixed_rows, key=lambda label: fixed_rows[label]["report"]["metric"])
    interval_lines = []
    for key, (title, _, _) in SEARCHES.items():
        found = [s for seed in range(args.seeds) if (s := summary_of(args, f"cross-{key}-s{seed}"))]
        if not found:
            continue
        picks = [s["result"]["scores"]["pick"]["report"] for s in found]
        lines.append(row(f"{title}, {len(found)} seeds", picks,
                         f"{np.mean([s['wall_s'] for s in found]):.0f} / seed"))
        difference = seed_mean_difference(args.work / "studies", found, fixed, best)
        interval_lines.append(f"| {title} − {best} | {interval_cell(difference)} |")
    text = [
        "## Cross-task merging: five GLUE tasks into one MiniLM encoder",
        "",
        "Each candidate is the warm checkpoint `make_candidates.py` trains for one task (from "
        "the packaged all-MiniLM-L6-v2 with a fresh head; RTE at max length 256), so the base "
        "θ₀ is MiniLM itself; the merged model is one encoder and each task's own head "
        "(`task: multi`). Report halves of each task's dev split (rows no search or greedy "
        f"choice saw); searches saw ≤ {args.selection_rows} selection rows per task. "
        "*average*: mean of the five metrics; *normalised*: mean of metric / the task's "
        "individual model on the same rows (the field's usual summary; 100 for the reference). "
        "MOBO rows: mean ± std over search seeds of the pick (best normalised average on the "
        f"selection rows), {args.trials} trials after the fixed points of the space "
        "(λ = 0.3, the simple average λ = 1/5, the grid's λ). wall s: seconds on 2 CPU cores "
        "(a fixed recipe: its statistics, merge and evaluations, selection and report; a MOBO "
        "row: its whole study, per seed).",
        "",
        *lines,
        "",
        f"Paired bootstrap interval of the normalised average (seed-mean pick − {best}, the "
        "best fixed method by its report normalised average, the strongest competitor), in "
        "points: 2,000 resamples of each task's report rows, the same resamples for every "
        "seed's pick and the baseline.",
        "",
        "| comparison | difference [95% interval] (seeds above / below 0) |",
        "|---|---|",
        *interval_lines,
        "",
        f"Run: `python scripts/results_cross_task.py --seeds {args.seeds} --trials {args.trials} "
        f"--initial-trials {args.initial_trials} --blocks {args.blocks} --selection-rows "
        f"{args.selection_rows} --statistics-rows {args.statistics_rows}`.",
        "",
    ]
    out = args.work / "cross_task.md"
    out.write_text("\n".join(text))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--work", type=Path, default=DEFAULT_CACHE.parent / "results")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--initial-trials", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--selection-rows", type=int, default=200)
    parser.add_argument("--statistics-rows", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--write-only", action="store_true")
    args = parser.parse_args()
    args.cache, args.work, args.data_root = (args.cache.resolve(), args.work.resolve(),
                                             args.data_root.resolve())
    started = time.perf_counter()
    if not args.write_only:
        run_all(args)
    written = write_table(args)
    print(f"{written or 'nothing to write'} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
