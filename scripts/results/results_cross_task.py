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
  encoder layers, pooler): 5 × K λs under the SAAS-prior GP;
* ``cross-<method>-gp-s<seed>`` / ``cross-<method>-block-saas-s<seed>`` for DARE (task-wise
  λ and the drop rate), WUDI (its scale) and TSV-M (rank fraction and scale): each new
  method's own search, model-level (gp) and block-wise (saas);
* ``cross-methods-gp-s<seed>``: the method itself as a search variable (``merge.method`` a
  list: task arithmetic with one λ per task vector, TIES, DARE-TIES, RegMean, MaTS, WUDI,
  TSV-M), warm-started with every listed method's paper defaults as arms.

Searches score every selection row (``--selection-rows 0``, the default: no cap) with early
stopping on (``search.early_stopping``: 4 chunks, dominance rule), ``--trials`` trials after
their warm-start arms; ``--searches`` runs some of them.

    python scripts/results/results_cross_task.py
    python scripts/results/results.py --write-only   # then: the table into docs/RESULTS.md
    python scripts/results/results_cross_task.py --searches methods-gp --trials 40
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "results"))
from make_candidates import DEFAULT_CACHE, DEFAULT_DATA  # noqa: E402
from results import run_study  # noqa: E402
from results_intervals import interval_cell, seed_mean_difference  # noqa: E402

TASKS = ("sst2", "mrpc", "cola", "stsb", "rte")
TITLES = {"sst2": "SST-2 acc", "mrpc": "MRPC acc", "cola": "CoLA MCC", "stsb": "STS-B r",
          "rte": "RTE acc"}
FIXED = ["candidates", "individual", "uniform", "greedy_soup", "fisher", "regmean", "mats",
         "task_arithmetic", "ties", "localize_stitch", "task_arithmetic_grid",
         "dare_task_arithmetic", "dare_ties", "wudi", "tsv"]
ROWS = [("individual", "individual models (reference)"), ("uniform", "simple average"),
        ("greedy_soup", "greedy soup"), ("fisher", "Fisher (uniform λ)"), ("regmean", "RegMean"),
        ("mats", "MaTS"), ("task_arithmetic", "task arithmetic λ = 0.3"),
        ("task_arithmetic_grid", "task arithmetic, grid-best λ"), ("ties", "TIES"),
        ("localize_stitch", "Localize-and-Stitch (data-free)"),
        ("dare_task_arithmetic", "DARE + task arithmetic (p 0.5, λ 0.3)"),
        ("dare_ties", "DARE + TIES (p 0.5, density 0.2, λ 1)"), ("wudi", "WUDI merging"),
        ("tsv", "TSV-M")]
#: The methods the method search chooses among, with the options of their search spaces.
METHOD_CHOICE = ["task_arithmetic", "ties", "dare_ties", "regmean", "mats", "wudi", "tsv"]
CHOICE_OPTIONS = {"task_arithmetic": {"per_candidate": True}}
TASK_WISE = {"per_candidate": True}


@dataclass(frozen=True)
class Search:
    """One searched row: its title, granularity, strategy, and the merge method(s)."""

    title: str
    granularity: str
    strategy: str
    method: str | list[str]
    options: dict[str, Any]


SEARCHES = {
    "ta-gp": Search("MOBO task-wise λ (gp)", "model", "gp", "task_arithmetic", TASK_WISE),
    "ta-block-saas": Search("MOBO block-wise λ (saas)", "block", "saas", "task_arithmetic",
                            TASK_WISE),
    "dare-gp": Search("MOBO DARE task-wise λ, p (gp)", "model", "gp", "dare_task_arithmetic",
                      TASK_WISE),
    "dare-block-saas": Search("MOBO DARE block-wise λ, p (saas)", "block", "saas",
                              "dare_task_arithmetic", TASK_WISE),
    "wudi-gp": Search("MOBO WUDI scale (gp)", "model", "gp", "wudi", {}),
    "wudi-block-saas": Search("MOBO WUDI block-wise scale (saas)", "block", "saas", "wudi", {}),
    "tsv-gp": Search("MOBO TSV-M fraction, scale (gp)", "model", "gp", "tsv", {}),
    "tsv-block-saas": Search("MOBO TSV-M block-wise scale (saas)", "block", "saas", "tsv", {}),
    "methods-gp": Search("MOBO over methods (gp)", "model", "gp", METHOD_CHOICE, CHOICE_OPTIONS),
}


def warm_checkpoint(cache: Path, task: str) -> tuple[Path, int]:
    listing = json.loads((cache / task / "candidates.json").read_text())
    return sorted((cache / task / "warm").glob("step-*"))[-1], listing["max_length"]


def base_data(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """A cross-task study of the five warm checkpoints, every selection row unless
    ``--selection-rows`` caps them."""
    paths, sections = [], []
    for task in TASKS:
        folder, length = warm_checkpoint(args.cache, task)
        paths.append(str(folder))
        sections.append({"name": task, "max_length": length,
                         "data": {"root": str(args.data_root), "hub": False}})
    return {
        "name": name, "studies_dir": str(args.work / "studies"), "seed": 0, "device": args.device,
        "task": {"name": "multi", "tasks": sections,
                 "eval": {"selection_fraction": 0.5,
                          "max_selection_examples": args.selection_rows or None}},
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
    if args.learned_masks:
        learned = base_data(args, "cross-ls-learned") | {"baselines": ["localize_stitch"]}
        learned["merge"] = learned["merge"] | {"method": "localize_stitch",
                                               "options": {"mask": "learned"}}
        summary = run_study(args, learned, statistics)
        print(f"cross-ls-learned: {summary['wall_s']:.0f} s", flush=True)
    grid = fixed_summary(args)["baselines"]["task_arithmetic_grid"]["coefficients"]["lambda"]
    k = len(TASKS)
    for key in args.searches:
        search = SEARCHES[key]
        for seed in range(args.seeds):
            data = base_data(args, f"cross-{key}-s{seed}")
            data["seed"] = seed
            data["search"] = {"trials": args.trials, "initial_trials": args.initial_trials,
                              "overlap": True, "strategy": search.strategy,
                              "objectives": "average", "pick_by": "model",
                              "early_stopping": {"enabled": True}}
            data["merge"] = data["merge"] | {"method": search.method, "options": search.options}
            if key.startswith("ta-"):
                # the fixed points of task arithmetic's space (λ = 0.3, the simple average
                # λ = 1/K, the grid's λ) rather than the method's own single default
                data["search"] |= {"baselines": False, "points": [
                    {f"lambda_{i}": value for i in range(k)}
                    for value in sorted({0.3, 1 / k, grid})]}
            if search.granularity == "block":
                data["merge"] |= {"granularity": "block", "blocks": args.blocks}
            summary = run_study(args, data, statistics)
            chosen = summary["result"]["scores"]["pick"]
            print(f"{data['name']}: pick {chosen['method']} (trial {chosen['trial']}), report "
                  f"normalised {chosen['report']['metric']:.4f} absolute "
                  f"{chosen['report']['absolute']:.4f} ({summary['wall_s']:.0f} s)", flush=True)


def fixed_summary(args: argparse.Namespace) -> dict[str, Any]:
    return json.loads((args.work / "summaries" / "cross-fixed.json").read_text())


def summary_of(args: argparse.Namespace, name: str) -> dict[str, Any] | None:
    path = args.work / "summaries" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def row(label: str, scores: list[dict[str, float]], seconds: str) -> str:
    def cell(values: list[float]) -> str:
        mean = 100 * float(np.mean(values))
        return (f"{mean:.1f}" if len(values) == 1
                else f"{mean:.1f} ± {100 * float(np.std(values)):.1f}")

    cells = [cell([s[t] for s in scores]) for t in TASKS]
    return (f"| {label} | " + " | ".join(cells) + f" | {cell([s['absolute'] for s in scores])} | "
            f"**{cell([s['metric'] for s in scores])}** | {seconds} |")


def chosen_cell(args: argparse.Namespace, summary: dict[str, Any]) -> str:
    """One seed's pick: its method, trial and scores, and the observed pick if it differs."""
    result = summary["result"]
    picks = result["picks"]

    def described(entry: dict[str, Any]) -> str:
        return (f"{entry['method']} (trial {entry['trial']}, selection "
                f"{100 * entry['selection']['metric']:.1f} → report "
                f"{100 * entry['report']['metric']:.1f})")

    chosen = picks[result["picked_on"]]
    text = described(chosen)
    observed = picks["observed"]
    if observed["trial"] != chosen["trial"]:
        text += f", observed pick {described(observed)}"
    return text + f", {search_trials(args, summary['name'])}"


def search_trials(args: argparse.Namespace, name: str) -> str:
    """How the study's search trials ended: scored in full, stopped early, failed."""
    log = args.work / "studies" / name / "trials.jsonl"
    lines = ([json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.is_file()
             else [])
    statuses = [e["status"] for e in lines if e.get("node") != "baseline"]
    return (f"{statuses.count('COMPLETED')} full / {statuses.count('EARLY_STOPPED')} stopped"
            + (f" / {statuses.count('FAILED')} failed" if "FAILED" in statuses else ""))


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
            lines.append(row(title, [baselines[label]["report"]],
                             baseline_seconds(baselines[label])))
    learned = summary_of(args, "cross-ls-learned")
    if learned and "localize_stitch" in learned["baselines"]:
        b = learned["baselines"]["localize_stitch"]
        # its masks are learned as its study opens (the study's own method): the study's wall
        lines.append(row("Localize-and-Stitch (learned masks)", [b["report"]],
                         f"{learned['wall_s']:.0f}"))
    fixed_rows = {label: baselines[label] for label, _ in ROWS
                  if label in baselines and label != "individual"}
    best = max(fixed_rows, key=lambda label: fixed_rows[label]["report"]["metric"])
    interval_lines, chosen_lines = [], []
    for key, search in SEARCHES.items():
        found = [s for seed in range(args.seeds) if (s := summary_of(args, f"cross-{key}-s{seed}"))]
        if not found:
            continue
        picks = [s["result"]["scores"]["pick"]["report"] for s in found]
        lines.append(row(f"{search.title}, {len(found)} seed{'s' * (len(found) > 1)}", picks,
                         f"{np.mean([s['wall_s'] for s in found]):.0f} / seed"))
        difference = seed_mean_difference(args.work / "studies", found, fixed, best)
        interval_lines.append(f"| {search.title} − {best} | {interval_cell(difference)} |")
        chosen_lines.append(f"| {search.title} | " + "; ".join(
            chosen_cell(args, s) for s in found) + " |")
    text = [
        "## Cross-task merging: five GLUE tasks into one MiniLM encoder",
        "",
        "Each candidate is the warm checkpoint `make_candidates.py` trains for one task (from "
        "the packaged all-MiniLM-L6-v2 with a fresh head; RTE at max length 256), so the base "
        "θ₀ is MiniLM itself; the merged model is one encoder and each task's own head "
        "(`task: multi`). Report halves of each task's dev split (rows no search or greedy "
        "choice saw); searches saw "
        + (f"≤ {args.selection_rows} selection rows per task. " if args.selection_rows
           else "every selection row of each task (early stopping on). ")
        + "*average*: mean of the five metrics; *normalised*: mean of metric / the task's "
        "individual model on the same rows (the field's usual summary; 100 for the reference). "
        "MOBO rows: mean ± std over search seeds of the pick (the best normalised average "
        "on the selection rows by the GP's posterior means, `pick_by: model`), "
        f"{args.trials} trials after the warm-start arms: the fixed points of the space for "
        "task arithmetic (λ = 0.3, the simple average λ = 1/5, the grid's λ), each method's "
        "paper defaults otherwise (every listed method's for the search over methods). "
        "wall s: seconds on 2 CPU cores "
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
        "What each seed's study chose (the pick on the GP's posterior means, `pick_by: model`; "
        "the observed pick and its report score beside it when it differs), its selection "
        "and report normalised averages, trials scored in full / stopped early:",
        "",
        "| search | per seed: pick → report normalised |",
        "|---|---|",
        *chosen_lines,
        "",
        "Run: `python scripts/results/results_cross_task.py "
        f"--seeds {args.seeds} --trials {args.trials} "
        f"--initial-trials {args.initial_trials} --blocks {args.blocks} --selection-rows "
        f"{args.selection_rows} --statistics-rows {args.statistics_rows} --searches "
        f"{' '.join(args.searches)}`.",
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
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--initial-trials", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--selection-rows", type=int, default=0,
                        help="cap per task on the selection rows searches score (0: every row)")
    parser.add_argument("--searches", nargs="+", choices=list(SEARCHES), default=list(SEARCHES))
    parser.add_argument("--learned-masks", action="store_true",
                        help="also Localize-and-Stitch with learned masks (about 17 minutes)")
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
