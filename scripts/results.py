"""The results table: does BO-tuned merging beat every fixed recipe on rows the search never
saw? Writes ``docs/RESULTS.md``.

Each task's dev.tsv is split deterministically in two halves (bomerge's sha256 split,
``task.eval.selection_fraction: 0.5``): the **selection** half is all that any search, any
greedy choice and any pick sees; every number in the tables is the **report** half.

For each task and each candidate set that ``scripts/make_candidates.py`` wrote —

* **swa**: the last 5 snapshots of one constant-rate run;
* **soup**: the final checkpoints of 4 fine-tunes from one start point —

one *fixed* study runs every fixed recipe through the study's evaluator: each single
checkpoint (reported as the best one by selection metric, and the last one), the uniform
average (uniform SWA / uniform soup), greedy soup, Fisher, RegMean, MaTS, task arithmetic,
TIES and Localize-and-Stitch, at their papers' defaults. Then, for 3 search seeds, the
project's qLogNEHVI study over the merge weights (both sets) and over Fisher λ (soup set),
each with the same budget: the k single checkpoints and the uniform average (plus uniform-λ
Fisher for the Fisher study) as warm-start arms, then ``--trials`` search trials
(``--initial-trials`` Sobol points, the rest qLogNEHVI on selection loss and metric), picked
by best selection metric.

Every study lives under ``--work`` (outside git) and a finished one is skipped, so the
script resumes where it stopped; ``--tasks`` lets two processes share the tasks, and
``--write-only`` assembles the tables from what is there.

    python scripts/make_candidates.py
    python scripts/results.py                       # every task, then docs/RESULTS.md
    python scripts/results.py --tasks rte mrpc      # a share of the work; then --write-only

The multitask table (``--multitask``) runs ``configs/cs224n-multitask.yaml`` (PCGrad
fine-tuning, its snapshots as candidates, greedy soup and Fisher baselines) and two more
search seeds over the same candidates.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from bomerge.config import parse_config
from bomerge.search.baselines import SINGLE_PREFIX
from bomerge.search.names import check_names
from bomerge.search.runner import StudyRunner
from bomerge.search.store import StudyStore

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from make_candidates import DEFAULT_CACHE, DEFAULT_DATA, TASKS  # noqa: E402

TASK_TITLES = {"rte": "RTE", "mrpc": "MRPC", "cola": "CoLA", "stsb": "STS-B", "sst2": "SST-2"}
TASK_METRICS = {"rte": "acc", "mrpc": "acc", "cola": "MCC", "stsb": "Pearson", "sst2": "acc"}
SEARCH = "search:"  # a row source naming a MOBO search over this merge method
FIXED = ["candidates", "uniform", "greedy_soup", "fisher", "regmean", "mats", "task_arithmetic",
         "ties", "localize_stitch"]
SEARCHES = {"swa": ["weights"], "soup": ["weights", "fisher"]}
SETTING_TITLES = {"swa": "SWA candidates: the last 5 snapshots of one run",
                  "soup": "Soup candidates: 4 fine-tunes from one start point"}
# (row title, where its number comes from): a label in the fixed study's result, or a search.
ROWS: dict[str, list[tuple[str, str]]] = {
    "swa": [("best single checkpoint", "best_single"), ("last checkpoint", "last_candidate"),
            ("uniform SWA", "uniform"), ("greedy soup", "greedy_soup"), ("Fisher", "fisher"),
            ("RegMean", "regmean"), ("MaTS", "mats"), ("task arithmetic", "task_arithmetic"),
            ("TIES", "ties"), ("Localize-and-Stitch", "localize_stitch"),
            ("**MOBO: SWA weights**", "search:weights")],
    "soup": [("best single fine-tune", "best_single"), ("uniform soup", "uniform"),
             ("greedy soup", "greedy_soup"), ("Fisher (uniform λ)", "fisher"), ("RegMean", "regmean"),
             ("MaTS", "mats"), ("task arithmetic", "task_arithmetic"), ("TIES", "ties"),
             ("Localize-and-Stitch", "localize_stitch"), ("**MOBO: soup weights**", "search:weights"),
             ("**MOBO: Fisher λ**", "search:fisher")],
}


def study_data(args: argparse.Namespace, task: str, listing: dict[str, Any], setting: str,
               name: str, method: str, seed: int | None) -> dict[str, Any]:
    """The study config: a fixed study (``seed`` None) or one search seed."""
    search: dict[str, Any] = (
        {"trials": 0, "initial_trials": 1, "warm_start": True} if seed is None else
        {"trials": args.trials, "initial_trials": args.initial_trials, "baselines": True,
         "overlap": True, "pick": "best_metric"}
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
                summary = run_study(args, study_data(args, task, listing, setting, name, method, seed), shared)
                pick = summary["result"]["scores"]["pick"]
                print(f"{name}: report {pick['report']['metric']:.4f} ({summary['wall_s']:.0f} s)", flush=True)


# ---- the tables ------------------------------------------------------------------------
def load_summaries(work: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((work / "summaries").glob("*.json"))}


def cell(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{100 * values[0]:.1f}"
    return f"{100 * statistics.mean(values):.1f} ± {100 * statistics.stdev(values):.1f}"


def search_name(task: str, setting: str, method: str, seed: int) -> str:
    return f"{task}-{setting}-{method}-s{seed}"


def searches(summaries: dict[str, dict[str, Any]], task: str, setting: str, source: str,
             seeds: int) -> list[dict[str, Any]] | None:
    """The finished seeds of a MOBO row (``search:METHOD``) on one task; None for a fixed row."""
    if not source.startswith(SEARCH):
        return None
    method = source.removeprefix(SEARCH)
    return [summaries[n] for s in range(seeds) if (n := search_name(task, setting, method, s)) in summaries]


def candidate_count(baselines: dict[str, Any]) -> int:
    return sum(1 for label in baselines if label.startswith(SINGLE_PREFIX))


def row_values(summaries: dict[str, dict[str, Any]], task: str, setting: str, source: str,
               seeds: int) -> list[float]:
    """Report-half metric(s) of one row on one task: one value, or one per search seed."""
    found = searches(summaries, task, setting, source, seeds)
    if found is not None:
        return [s["result"]["scores"]["pick"]["report"]["metric"] for s in found]
    fixed = summaries.get(f"{task}-{setting}-fixed")
    if fixed is None or source not in fixed["result"]["scores"]:
        return []
    return [fixed["result"]["scores"][source]["report"]["metric"]]


def row_seconds(summaries: dict[str, dict[str, Any]], tasks: list[str], setting: str, source: str,
                seeds: int) -> float | None:
    """Mean wall seconds per task (per seed for a search) of one row."""
    seconds = []
    for task in tasks:
        found = searches(summaries, task, setting, source, seeds)
        if found is not None:
            seconds += [s["wall_s"] for s in found]
            continue
        fixed = summaries.get(f"{task}-{setting}-fixed")
        if fixed is None:
            continue
        baselines = fixed["baselines"]
        if source in ("best_single", "last_candidate"):
            seconds.append(sum(b["seconds"]["wall"] for label, b in baselines.items()
                               if label.startswith(SINGLE_PREFIX)))
        elif source == "greedy_soup" and source in baselines:
            # Its record times the final soup; the k − 1 soups it tried on the way cost one
            # merge and one selection evaluation each (the singles are the row above).
            b, k = baselines[source], candidate_count(baselines)
            seconds.append(b["seconds"]["wall"] + (k - 1) * (b["seconds"]["merge"] + b["seconds"]["evaluate"]))
        elif source in baselines:
            seconds.append(baselines[source]["seconds"]["wall"])
    return statistics.mean(seconds) if seconds else None


def selection_evaluations(summaries: dict[str, dict[str, Any]], tasks: list[str], setting: str,
                          source: str, seeds: int) -> str:
    """How many selection-half evaluations a row's choice used (its trial budget)."""
    if source.startswith(SEARCH):
        counts = {s["result"]["trials"] for t in tasks
                  for s in searches(summaries, t, setting, source, seeds) or []}
        return "/".join(str(c) for c in sorted(counts)) or "—"
    fixed = next((summaries[f"{t}-{setting}-fixed"] for t in tasks if f"{t}-{setting}-fixed" in summaries), None)
    if fixed is None:
        return "—"
    k = candidate_count(fixed["baselines"])
    return {"best_single": str(k), "greedy_soup": str(2 * k - 1)}.get(source, "0")


def setting_table(summaries: dict[str, dict[str, Any]], tasks: list[str], setting: str,
                  seeds: int) -> tuple[list[str], dict[str, float]]:
    """Markdown lines of one table, and each row's average over tasks (for the claim)."""
    head = " | ".join(f"{TASK_TITLES[t]} ({TASK_METRICS[t]})" for t in tasks)
    lines = [f"| method | {head} | average | selection evals | wall s / task |",
             "|---|" + "---|" * (len(tasks) + 3)]
    averages: dict[str, float] = {}
    for title, source in ROWS[setting]:
        per_task = [row_values(summaries, t, setting, source, seeds) for t in tasks]
        cells = [cell(v) for v in per_task]
        average = "—"
        if all(per_task):
            if source.startswith(SEARCH) and len({len(v) for v in per_task}) == 1:
                per_seed = [statistics.mean(v[s] for v in per_task) for s in range(len(per_task[0]))]
                average = cell(per_seed)
                averages[source] = statistics.mean(per_seed)
            else:
                means = [statistics.mean(v) for v in per_task]
                average = cell([statistics.mean(means)])
                averages[source] = statistics.mean(means)
        seconds = row_seconds(summaries, tasks, setting, source, seeds)
        evaluations = selection_evaluations(summaries, tasks, setting, source, seeds)
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {average} | {evaluations} | "
                     f"{'—' if seconds is None else f'{seconds:.0f}'} |")
    return lines, averages


def claim_lines(averages: dict[str, dict[str, float]]) -> list[str]:
    """MOBO against uniform averaging and greedy soup, each search of each setting."""
    lines = []
    for setting, methods in SEARCHES.items():
        got = averages.get(setting, {})
        for method in methods:
            search = SEARCH + method
            if search not in got:
                continue
            for other, title in (("uniform", "uniform"), ("greedy_soup", "greedy soup")):
                if other not in got:
                    continue
                holds = got[search] >= got[other]
                lines.append(
                    f"- {setting}: MOBO {method} {100 * got[search]:.2f} vs {title} "
                    f"{100 * got[other]:.2f} → **{'holds' if holds else 'does not hold'}** "
                    f"({100 * (got[search] - got[other]):+.2f} points)")
    return lines


def multitask_table(summaries: dict[str, dict[str, Any]], seeds: int) -> list[str]:
    names = ["cs224n-multitask", *[f"cs224n-multitask-s{s}" for s in range(1, seeds)]]
    found = [summaries[n] for n in names if n in summaries]
    if not found:
        return []
    columns = ("sst", "quora", "sts", "metric")
    scores = found[0]["result"]["scores"]
    rows = [("PCGrad model (last checkpoint)", [scores["last_candidate"]["report"]]),
            ("best single checkpoint", [scores["best_single"]["report"]]),
            ("uniform SWA", [scores["uniform"]["report"]]),
            ("greedy soup", [scores["greedy_soup"]["report"]] if "greedy_soup" in scores else []),
            ("Fisher", [scores["fisher"]["report"]] if "fisher" in scores else []),
            ("**MOBO: SWA weights (3 objectives)**", [s["result"]["scores"]["pick"]["report"] for s in found])]
    lines = ["| method | SST (acc) | Quora (acc) | STS (Pearson) | average |", "|---|---|---|---|---|"]
    for title, reports in rows:
        lines.append(f"| {title} | " + " | ".join(cell([r[c] for r in reports]) for c in columns) + " |")
    walls = ", ".join(f"{s['wall_s']:.0f}" for s in found)
    first = ("the seed-0 study was found already run with this config (its training, search "
             "and baselines took 12 min 23 s + 3 min 12 s, see the README), so its figure is only "
             "its resumed finish" if found[0].get("resumed") else
             "the first includes PCGrad training and the baselines")
    lines += ["", f"Searches: {len(found)} seed(s); wall seconds per study: {walls} ({first})."]
    return lines


def write_results(args: argparse.Namespace) -> None:
    summaries = load_summaries(args.work)
    tasks = [t for t in TASKS if f"{t}-swa-fixed" in summaries or f"{t}-soup-fixed" in summaries]
    example = next((s for n, s in summaries.items() if n.endswith("-s0") and not n.startswith("cs224n")), None)
    out: list[str] = [
        "# Results: BO-tuned merging against fixed recipes, on rows the search never saw", "",
        "Produced by `scripts/make_candidates.py` and `scripts/results.py` (commands at the end).",
        "Model: the packaged all-MiniLM-L6-v2 (22.7M parameters) fine-tuned on CPU; recipe in",
        "`scripts/make_candidates.py` (1,600 training rows per run, 1 epoch, max length 128).", "",
        "Every number is the **report half** of the task's dev.tsv (×100): accuracy, Matthews",
        "correlation (CoLA) or Pearson r (STS-B). The selection half is the only thing any search,",
        "greedy soup or pick saw. Fixed recipes are deterministic (one run); MOBO rows are the mean ±",
        f"standard deviation over {args.seeds} search seeds (the average column: over seeds of the",
        "per-seed task averages).", "",
    ]
    if example is not None:
        r = example["result"]
        out += [f"**Trial budget per MOBO study**: {args.trials} search trials "
                f"({args.initial_trials} Sobol, {args.trials - args.initial_trials} qLogNEHVI on "
                "(selection loss, selection metric)) in every study, after the warm-start arms that",
                "are points of its space: the k candidates and their uniform average for a weights",
                "search (k + 1 + 10 = 16 with the 5 SWA snapshots, 15 with the 4 fine-tunes), the",
                "uniform-λ Fisher merge for the Fisher-λ search (11). Greedy soup spends 2k − 1",
                f"evaluations. Selection rows per task: at most {args.selection_rows} (e.g. "
                f"{r['selection_rows']} selection / {r['report_rows']} report for "
                f"{TASK_TITLES[example['name'].split('-')[0]]}).", ""]
    averages: dict[str, dict[str, float]] = {}
    for setting in ("swa", "soup"):
        lines, averages[setting] = setting_table(summaries, tasks, setting, args.seeds)
        out += [f"## {SETTING_TITLES[setting]}", "", *lines, ""]
    for task in tasks:
        values = {round(v, 6) for setting in ("swa", "soup") for _, source in ROWS[setting]
                  for v in row_values(summaries, task, setting, source, args.seeds)}
        if len(values) == 1:
            out += [f"On {TASK_TITLES[task]} every candidate, recipe and search scores "
                    f"{100 * values.pop():.1f}: at this fine-tuning budget its models predict one "
                    "class, so the task adds the same to every average and separates nothing.", ""]
    trained = [json.loads(line) for task in tasks
               if (log := args.cache / task / "training.jsonl").is_file()
               for line in log.read_text().splitlines() if line.strip()]
    if trained:
        out += [f"Fine-tuning ({len(trained)} runs, `make_candidates.py`): "
                f"{sum(t['seconds'] for t in trained) / 60:.0f} min of process time, two processes "
                "sharing 2 CPU cores.", ""]
    claim = claim_lines(averages)
    if claim:
        out += ["## The claim: MOBO-tuned weights ≥ uniform and ≥ greedy soup, on average", "", *claim, ""]
    out += ["Notes on the columns:", "",
            "- *selection evals*: selection-half evaluations the row's choice used. Fixed "
            "recipes choose nothing (0); best single compares k; greedy soup 2k − 1; a MOBO "
            "study its warm-start arms plus the search trials.",
            "- *wall s / task*: seconds per task (per seed for MOBO), on 2 CPU cores shared by "
            "three or four result processes at once. Fixed recipes: their statistics (Fisher "
            f"from {args.statistics_rows} training rows, RegMean Gram matrices), merge and "
            "evaluation; MaTS's K-FAC statistics are computed as its fixed study opens and are "
            "not in its figure (about 20 s per candidate here). Greedy soup counts its k − 1 "
            "trial soups. MOBO: the whole study (arms, generation, merges, evaluations, report).",
            f"- MaTS runs {args.mats_iterations} conjugate-gradient iterations (the paper: 100) to "
            "fit the CPU budget; the other recipes use their papers' defaults (task arithmetic "
            "λ = 0.3, TIES density 0.2 and λ = 1, Localize-and-Stitch data-free).", ""]
    rows = {t: (s["result"]["selection_rows"], s["result"]["report_rows"])
            for t in tasks if (s := summaries.get(f"{t}-swa-fixed"))}
    if rows:
        out += ["Rows (selection / report): " + ", ".join(
            f"{TASK_TITLES[t]} {a} / {b}" for t, (a, b) in rows.items()) + ". These halves are "
            "small: one report row moves an accuracy by " + ", ".join(
            f"{100 / b:.1f} ({TASK_TITLES[t]})" for t, (_, b) in rows.items()
            if TASK_METRICS[t] == "acc") + " points, and the binomial standard error of an "
            "accuracy near 0.7 on 183 rows is 3.4 points, so differences of a point or two "
            "between rows of one table are within the noise of a single split.", ""]
    multitask = multitask_table(summaries, args.seeds)
    if multitask:
        out += ["## Multitask: CS224N (SST-5, Quora, STS), PCGrad-trained MiniLM", "",
                "`configs/cs224n-multitask.yaml`: PCGrad with task weights [0.5, 1, 1], its last 4",
                "snapshots as candidates; search over their weights with qLogNEHVI on the three",
                "per-task selection metrics (16 trials after the warm-start arms); report half of each",
                "sub-task's dev rows (SST dev carved from the training file, see the README).", "",
                *multitask, ""]
    out += ["## Commands", "", "```",
            "python scripts/make_candidates.py   # ~40 min on 2 CPU cores (two --tasks shares); skips finished runs",
            f"python scripts/results.py --seeds {args.seeds} --trials {args.trials} "
            f"--initial-trials {args.initial_trials} --selection-rows {args.selection_rows} "
            f"--statistics-rows {args.statistics_rows} --mats-iterations {args.mats_iterations}" + (" --multitask" if multitask else ""),
            "```", "",
            "The tasks were shared between processes with `--tasks` (then `--write-only`); wall",
            "seconds are this project's 2-core CPU machine under that sharing, so they compare",
            "methods with one another, not with other machines.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out))
    print("\n".join(out))


def run_multitask(args: argparse.Namespace) -> None:
    """The CS224N protocol: the committed config (trains PCGrad candidates, greedy soup and
    Fisher baselines, seed 0), then seeds 1.. over the same candidates."""
    raw = yaml.safe_load((REPO / "configs" / "cs224n-multitask.yaml").read_text())
    raw["studies_dir"] = str(args.work / "studies")
    raw["task"]["data"]["root"] = str(args.cs224n_root)
    run_study(args, raw, args.work / "statistics" / "cs224n", baselines=["greedy_soup", "fisher"])
    candidates = args.work / "studies" / raw["name"] / "candidates"
    for seed in range(1, args.seeds):
        data = {k: v for k, v in raw.items() if k != "train"} | {
            "name": f"{raw['name']}-s{seed}", "seed": seed,
            "candidates": {"glob": [str(candidates / "step-*")], "base": str(candidates / "base")},
        }
        summary = run_study(args, data, args.work / "statistics" / "cs224n")
        print(f"{data['name']}: report {summary['result']['scores']['pick']['report']['metric']:.4f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", choices=TASKS, default=list(TASKS))
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="make_candidates.py's folder")
    parser.add_argument("--work", type=Path, default=DEFAULT_CACHE.parent / "results")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cs224n-root", type=Path, default=DEFAULT_DATA.parent / "cs224n")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "RESULTS.md")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--initial-trials", type=int, default=3)
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
