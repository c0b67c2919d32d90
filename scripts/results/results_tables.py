"""The tables of ``docs/RESULTS.md`` from the studies ``scripts/results/results.py`` ran:
every fixed recipe and the block-wise MOBO searches on the report half, each MOBO row's paired
intervals against greedy soup and uniform, and the trivial predictor each task must beat."""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from make_candidates import TASKS
from results_intervals import (
    SeedMeanDifference,
    average_difference,
    interval_cell,
    seed_mean_difference,
)

from bomerge.search.baselines import SINGLE_PREFIX
from bomerge.search.study.store import StudyStore
from bomerge.search.workbench import evaluation_rows
from bomerge.tasks import get_task

TASK_TITLES = {"rte": "RTE", "mrpc": "MRPC", "cola": "CoLA", "stsb": "STS-B", "sst2": "SST-2"}
TASK_METRICS = {"rte": "acc", "mrpc": "acc", "cola": "MCC", "stsb": "Pearson", "sst2": "acc"}
SEARCH = "search:"  # a row source naming a MOBO search over this merge method
SEARCHES = {"swa": ["weights"], "soup": ["weights", "fisher"]}
SETTING_TITLES = {"swa": "SWA candidates: the last 5 snapshots of one run",
                  "soup": "Soup candidates: 4 fine-tunes from one start point"}
# (row title, where its number comes from): a label in the fixed study's result, or a search.
ROWS: dict[str, list[tuple[str, str]]] = {
    "swa": [("majority class (trivial)", "trivial"), ("best single checkpoint", "best_single"),
            ("last checkpoint", "last_candidate"),
            ("uniform SWA", "uniform"), ("greedy soup", "greedy_soup"), ("Fisher", "fisher"),
            ("RegMean", "regmean"), ("MaTS", "mats"), ("task arithmetic", "task_arithmetic"),
            ("TIES", "ties"), ("Localize-and-Stitch", "localize_stitch"),
            ("**MOBO block-wise (saas): SWA weights**", "search:weights")],
    "soup": [("majority class (trivial)", "trivial"), ("best single fine-tune", "best_single"),
             ("uniform soup", "uniform"), ("greedy soup", "greedy_soup"),
             ("Fisher (uniform λ)", "fisher"), ("RegMean", "regmean"),
             ("MaTS", "mats"), ("task arithmetic", "task_arithmetic"), ("TIES", "ties"),
             ("Localize-and-Stitch", "localize_stitch"),
             ("**MOBO block-wise (saas): soup weights**", "search:weights"),
             ("**MOBO block-wise (saas): Fisher λ**", "search:fisher")],
}


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
    return f"{task}-{setting}-{method}-block-s{seed}"


def searches(summaries: dict[str, dict[str, Any]], task: str, setting: str, source: str,
             seeds: int) -> list[dict[str, Any]] | None:
    """The finished seeds of a MOBO row (``search:METHOD``) on one task; None for a fixed row."""
    if not source.startswith(SEARCH):
        return None
    method = source.removeprefix(SEARCH)
    return [summaries[n] for s in range(seeds)
            if (n := search_name(task, setting, method, s)) in summaries]


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
            seconds.append(b["seconds"]["wall"]
                           + (k - 1) * (b["seconds"]["merge"] + b["seconds"]["evaluate"]))
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
    fixed = next((summaries[f"{t}-{setting}-fixed"] for t in tasks
                  if f"{t}-{setting}-fixed" in summaries), None)
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
                per_seed = [statistics.mean(v[s] for v in per_task)
                            for s in range(len(per_task[0]))]
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


def trivial_scores(work: Path, fixed_name: str) -> tuple[float, float]:
    """The constant predictor every candidate must beat: (majority-class share of the
    selection rows, its score on the report rows). Accuracy tasks predict the selection
    rows' majority class; MCC and correlations of a constant prediction are 0."""
    config = StudyStore(work / "studies" / fixed_name).read_config()
    task = get_task(config.task)
    selection, report = evaluation_rows(config, task)
    if task.metric != "accuracy":
        return 0.0, 0.0
    label, count = Counter(ex.label for ex in selection).most_common(1)[0]
    return count / len(selection), sum(ex.label == label for ex in report) / len(report)


def interval_lines(
    work: Path, summaries: dict[str, dict[str, Any]], tasks: list[str], seeds: int,
) -> tuple[list[str], dict[tuple[str, str, str], list[SeedMeanDifference | None]]]:
    """One table of paired intervals: each MOBO row against greedy soup and uniform, per
    task and on the task average; and the differences, by (setting, method, baseline)."""
    head = " | ".join(TASK_TITLES[t] for t in tasks)
    lines = [f"| MOBO block-wise (saas) − baseline | {head} | average |",
             "|---|" + "---|" * (len(tasks) + 1)]
    found: dict[tuple[str, str, str], list[SeedMeanDifference | None]] = {}
    for setting, methods in SEARCHES.items():
        for method in methods:
            for baseline, title in (("greedy_soup", "greedy soup"), ("uniform", "uniform")):
                per_task = [
                    seed_mean_difference(
                        work / "studies",
                        searches(summaries, t, setting, SEARCH + method, seeds) or [],
                        summaries[f"{t}-{setting}-fixed"], baseline)
                    if f"{t}-{setting}-fixed" in summaries else None for t in tasks]
                found[setting, method, baseline] = per_task
                if all(d is None for d in per_task):
                    continue
                known = [d for d in per_task if d is not None]
                average = (interval_cell(average_difference(known)) if len(known) == len(tasks)
                           else "—")
                lines.append(f"| {setting} {method} − {title} | "
                             + " | ".join(interval_cell(d) for d in per_task) + f" | {average} |")
    return lines, found


def pick_lines(summaries: dict[str, dict[str, Any]], tasks: list[str], seeds: int) -> list[str]:
    """Which pick generalised, and by how much each choice overfits its selection rows: the
    mean over tasks (and seeds) of selection → report metric for the observed pick, the
    GP-posterior-mean pick (``search.pick_by: model``; both are recorded whatever the setting)
    and greedy soup."""
    lines = ["| search | observed pick: selection → report | model pick: selection → report | "
             "greedy soup: selection → report |", "|---|---|---|---|"]
    for setting, methods in SEARCHES.items():
        for method in methods:
            found = {t: searches(summaries, t, setting, SEARCH + method, seeds) or []
                     for t in tasks}
            if not all(found.values()):
                continue

            def mean_pair(entries: list[dict[str, Any]]) -> str:
                sel = statistics.mean(e["selection"]["metric"] for e in entries)
                rep = statistics.mean(e["report"]["metric"] for e in entries)
                return f"{100 * sel:.1f} → {100 * rep:.1f} ({100 * (rep - sel):+.1f})"

            cells = []
            for way in ("observed", "model"):
                entries = [s["result"]["picks"][way] for runs in found.values() for s in runs
                           if (s["result"].get("picks") or {}).get(way)]
                cells.append(mean_pair(entries) if entries else "—")
            soups = [summaries[f"{t}-{setting}-fixed"]["result"]["scores"]["greedy_soup"]
                     for t in tasks if f"{t}-{setting}-fixed" in summaries]
            cells.append(mean_pair(soups) if soups else "—")
            lines.append(f"| {setting} {method} | " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def target_lines(found: dict[tuple[str, str, str], list[SeedMeanDifference | None]],
                 tasks: list[str]) -> list[str]:
    """The issue's target, checked: the block-wise SAAS weights search beats greedy soup by
    ≥ 1.0 point on the task average, with the paired interval above 0 on ≥ 2 tasks."""
    lines = []
    for setting, methods in SEARCHES.items():
        for method in methods:
            per_task = found.get((setting, method, "greedy_soup"), [])
            known = [d for d in per_task if d is not None]
            if len(known) != len(tasks) or not known:
                continue
            average = average_difference(known)
            above = [TASK_TITLES[t] for t, d in zip(tasks, per_task, strict=True)
                     if d is not None and d.verdict == "better"]
            below = [TASK_TITLES[t] for t, d in zip(tasks, per_task, strict=True)
                     if d is not None and d.verdict == "worse"]
            met = average.difference >= 0.01 and len(above) >= 2
            low, high = average.interval
            lines.append(
                f"- {setting} {method}: {100 * average.difference:+.2f} points on the "
                f"{len(tasks)}-task average [{100 * low:+.2f}, {100 * high:+.2f}]; "
                "interval above 0 "
                f"on {len(above)} task(s){' (' + ', '.join(above) + ')' if above else ''}, below 0 "
                f"on {len(below)}{' (' + ', '.join(below) + ')' if below else ''} → "
                f"**{'met' if met else 'not met'}**")
    return lines


MULTITASK = "cs224n-multitask"


def multitask_table(work: Path, summaries: dict[str, dict[str, Any]], seeds: int) -> list[str]:
    """The CS224N rows: the config's study (PCGrad training, its baselines and its model-level
    search, seed 0) and the block-wise SAAS searches over the same snapshots, with the
    latter's paired intervals against greedy soup and uniform."""
    config_study = summaries.get(MULTITASK)
    if config_study is None:
        return []
    blockwise = [summaries[n] for s in range(seeds)
                 if (n := f"{MULTITASK}-block-s{s}") in summaries]
    columns = ("sst", "quora", "sts", "metric")
    scores = config_study["result"]["scores"]
    rows = [("PCGrad model (last checkpoint)", [scores["last_candidate"]["report"]]),
            ("best single checkpoint", [scores["best_single"]["report"]]),
            ("uniform SWA", [scores["uniform"]["report"]]),
            ("greedy soup", [scores["greedy_soup"]["report"]] if "greedy_soup" in scores else []),
            ("Fisher", [scores["fisher"]["report"]] if "fisher" in scores else []),
            ("MOBO model-level (gp): SWA weights, seed 0", [scores["pick"]["report"]]),
            ("**MOBO block-wise (saas): SWA weights**",
             [s["result"]["scores"]["pick"]["report"] for s in blockwise])]
    lines = ["| method | SST (acc) | Quora (acc) | STS (Pearson) | average | wall s |",
             "|---|---|---|---|---|---|"]
    for title, reports in rows:
        lines.append(f"| {title} | " + " | ".join(cell([r[c] for r in reports]) for c in columns)
                     + " | "
                     + ("—" if title.startswith(("PCGrad", "best", "uniform", "greedy",
                                                 "Fisher"))
                        else str(round(statistics.mean(
                            s["wall_s"] for s in
                            (blockwise if "block" in title else [config_study])))))
                     + " |")
    if blockwise:
        lines += ["", "Paired intervals of the block-wise row (mean over seeds of pick − baseline, "
                  "average of the three metrics, resampled within each head): "
                  + "; ".join(f"− {title} " + interval_cell(seed_mean_difference(
                                  work / 'studies', blockwise, config_study, label))
                              for label, title in (("greedy_soup", "greedy soup"),
                                                   ("uniform", "uniform SWA")))
                  + "."]
    lines += ["", f"The config's study ({config_study['wall_s']:.0f} s) includes PCGrad training, "
              "the baselines and its model-level search."]
    return lines


def write_results(args: argparse.Namespace) -> None:
    summaries = load_summaries(args.work)
    tasks = [t for t in TASKS if f"{t}-swa-fixed" in summaries or f"{t}-soup-fixed" in summaries]
    example = next((s for n, s in summaries.items()
                    if n.endswith("-block-s0") and not n.startswith("cs224n")), None)
    majority: dict[str, float] = {}
    for task in tasks:  # both settings' fixed studies score the same rows: read them once
        fixed_studies = [f for setting in ("swa", "soup")
                         if (f := summaries.get(f"{task}-{setting}-fixed"))]
        majority[task], report = trivial_scores(args.work, fixed_studies[0]["name"])
        for fixed in fixed_studies:
            fixed["result"]["scores"]["trivial"] = {"report": {"metric": report}}
    out: list[str] = [
        "# Results: BO-tuned merging against fixed recipes, on rows the search never saw", "",
        "Produced by `scripts/results/make_candidates.py` and `scripts/results/results.py` "
        "(commands at the end).",
        "Model: the packaged all-MiniLM-L6-v2 (22.7M parameters) fine-tuned on CPU; recipe in",
        "`scripts/results/make_candidates.py`: per task a *warm* fine-tune (RTE, MRPC, CoLA: every",
        "training row, 3 / 2 / 2 epochs; STS-B 3,200 and SST-2 4,000 rows, 1 epoch; learning",
        "rate 1e-4, linear decay; max length 256 for RTE, 128 for the rest) whose final checkpoint",
        "is every candidate's start point and the task-vector base, then 4 runs of 800 rows from",
        "it: a constant-rate run whose last 5 snapshots are the SWA candidates, and 3 linear-decay",
        "runs at other rates and seeds; the soup candidates are the 4 runs' final checkpoints.", "",
        "Every number is the **report half** of the task's dev.tsv (×100): accuracy, Matthews",
        "correlation (CoLA) or Pearson r (STS-B). The selection half is the only thing any search,",
        "greedy soup or pick saw. Fixed recipes are deterministic (one run); "
        "MOBO rows are the mean ±",
        f"standard deviation over {args.seeds} search seeds (the average column: over seeds of the",
        "per-seed task averages).", "",
    ]
    if example is not None:
        r = example["result"]
        out += [f"**MOBO rows**: block-wise coefficients (`merge.granularity: block`, "
                f"`blocks: {args.blocks}`: one simplex per group — embeddings, {args.blocks} "
                "blocks of 2 encoder layers, the head — so 5 × (k − 1) search dimensions), the",
                "SAAS-prior GP (`search.strategy: saas`, the MAP ensemble) under qLogNEHVI on "
                "(selection loss, selection metric), picked by best selection metric.",
                f"**Trial budget per MOBO study**: {args.trials} search trials "
                f"({args.initial_trials} Sobol, {args.trials - args.initial_trials} "
                "SAAS-qLogNEHVI) "
                "in every study, after the warm-start arms, the model-level recipes lifted "
                "into the",
                f"block space: the k candidates and their uniform average for a weights search "
                f"(k + 1 + {args.trials}), the uniform-λ Fisher merge for the Fisher-λ search "
                f"(1 + {args.trials}). Greedy soup spends 2k − 1",
                f"evaluations. Selection rows per task: at most {args.selection_rows} (e.g. "
                f"{r['selection_rows']} selection / {r['report_rows']} report for "
                f"{TASK_TITLES[example['name'].split('-')[0]]}).", ""]
    averages: dict[str, dict[str, float]] = {}
    for setting in ("swa", "soup"):
        lines, averages[setting] = setting_table(summaries, tasks, setting, args.seeds)
        out += [f"## {SETTING_TITLES[setting]}", "", *lines, ""]
    best = {t: fixed["result"]["scores"]["best_single"]["selection"]["metric"]
            for t in tasks
            if (fixed := summaries.get(f"{t}-soup-fixed") or summaries.get(f"{t}-swa-fixed"))}
    out += ["**Above the trivial predictor.** Best single candidate on the selection rows against "
            "the majority class there (accuracy tasks; MCC and Pearson of a constant are 0): " +
            ", ".join(f"{TASK_TITLES[t]} {100 * best[t]:.1f} vs {100 * majority[t]:.1f}"
                      for t in tasks if t in best) + ".", ""]
    intervals, found = interval_lines(args.work, summaries, tasks, args.seeds)
    if len(intervals) > 2:
        out += ["## Paired intervals: MOBO block-wise (saas) against greedy soup and uniform", "",
                "Mean over the search seeds of (pick − baseline) on the report half, in points, "
                "with its 95% paired bootstrap interval (2,000 resamples of the report rows, the "
                "same resamples for every seed's pick and the baseline; the average column "
                "averages the tasks' resampled differences); **bold** when the interval excludes "
                "0, otherwise a tie. In brackets: how many seeds' own paired intervals lie above "
                "(↑) and below (↓) 0.", "", *intervals, ""]
    trained = [json.loads(line) for task in tasks
               if (log := args.cache / task / "training.jsonl").is_file()
               for line in log.read_text().splitlines() if line.strip()]
    if trained:
        per_task = []
        for task in tasks:
            listing = args.cache / task / "candidates.json"
            seconds = (json.loads(listing.read_text()).get("seconds", {}) if listing.is_file()
                       else {})
            if seconds:
                per_task.append(f"{TASK_TITLES[task]} {seconds.get('warm', 0) / 60:.1f} + "
                                f"{sum(v for k, v in seconds.items() if k != 'warm') / 60:.1f}")
        out += [f"Fine-tuning ({len(trained)} runs, `make_candidates.py`): "
                f"{sum(t['seconds'] for t in trained) / 60:.0f} min on 2 CPU cores, one process"
                + (" (minutes per task, warm run + the 4 candidate runs: "
                   + ", ".join(per_task) + ")"
                   if per_task else "") + ".", ""]
    picks = pick_lines(summaries, tasks, args.seeds)
    if picks:
        out += ["## Picks: which generalised, and the winner's curse", "",
                "Mean over tasks (and search seeds) of the selection-half metric of each choice "
                "and its report-half metric (the drop in brackets). The observed pick is the "
                "best of many noisy evaluations, so its selection score is biased upwards; the "
                "model pick applies the same rule to the GP's posterior means.", "", *picks, ""]
    target = target_lines(found, tasks)
    if target:
        out += ["## The target: block-wise SAAS beats greedy soup by ≥ 1.0 point on the average, "
                "with the interval above 0 on ≥ 2 tasks", "", *target, ""]
    out += ["Notes on the columns:", "",
            "- *selection evals*: selection-half evaluations the row's choice used. Fixed "
            "recipes choose nothing (0); best single compares k; greedy soup 2k − 1; a MOBO "
            "study its warm-start arms plus the search trials.",
            "- *wall s / task*: seconds per task (per seed for MOBO), on 2 CPU cores, one "
            "process. Fixed recipes: their statistics (Fisher "
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
    missing = [t for t in TASKS if t not in tasks]
    if missing:
        out += ["**Not in these tables**: " + ", ".join(TASK_TITLES[t] for t in missing) + " — no "
                "studies were run for it (`make_candidates.py --tasks " + " ".join(missing)
                + "`, then `results.py --tasks " + " ".join(missing) + "`); the averages are over "
                f"the {len(tasks)} tasks shown.", ""]
    multitask = multitask_table(args.work, summaries, args.seeds)
    if multitask:
        out += ["## Multitask: CS224N (SST-5, Quora, STS), PCGrad-trained MiniLM", "",
                "`configs/cs224n-multitask.yaml`: PCGrad with task weights [0.5, 1, 1], its last 4",
                "snapshots as candidates; searches over their weights with qLogNEHVI on the three",
                "per-task selection metrics (16 trials after the warm-start arms): "
                "the config's own",
                f"model-level GP study, and {args.seeds} block-wise SAAS studies "
                f"(`blocks: {args.blocks}`); report half of each",
                "sub-task's dev rows (SST dev carved from the training file, see the README).", "",
                *multitask, ""]
    if not multitask:
        out += ["**CS224N**: not run into this table (`results.py --multitask` trains the "
                "config's PCGrad candidates and runs its block-wise searches).", ""]
    cross_task = args.work / "cross_task.md"  # written by results_cross_task.py
    if cross_task.is_file():
        out += [cross_task.read_text().rstrip(), ""]
    out += ["## Commands", "", "```",
            "python scripts/results/make_candidates.py   # skips finished runs",
            f"python scripts/results/results.py --seeds {args.seeds} --trials {args.trials} "
            f"--blocks {args.blocks} "
            f"--initial-trials {args.initial_trials} --selection-rows {args.selection_rows} "
            f"--statistics-rows {args.statistics_rows} --mats-iterations {args.mats_iterations}"
            + (" --multitask" if multitask else ""),
            "```", "",
            "Wall seconds are this project's 2-core CPU machine, so they compare methods with one",
            "another, not with other machines.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out))
    print("\n".join(out))


