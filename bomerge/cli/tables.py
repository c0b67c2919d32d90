"""Rich tables the commands print: the Pareto table, a finished study's outcome, the outer
trials of a bilevel study, the baseline table and the study list.

A task with several heads adds a column per head (``bomerge.search.records.metric_columns``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from bomerge.cli.app import out
from bomerge.errors import BomergeError

if TYPE_CHECKING:
    from bomerge.config import StudyConfig
    from bomerge.search.study.store import StudyStore


def print_pareto(records: list, baselines: list, pick: Any, show_all: bool,
                 objectives: tuple = (), extra_columns: Sequence[str] = ()) -> None:
    """Trials on the Pareto front (or all), the study's baseline arms, and baselines of
    other methods (no trial number), sorted by metric; a task with several heads shows
    every head's metric."""
    from bomerge.search.pareto import LOSS_METRIC, STOPPED, pareto_set, same_record

    objectives = objectives or LOSS_METRIC
    front = {r.index for r in pareto_set(records, objectives)}
    shown = [r for r in records if show_all or r.index in front or r.is_baseline] + baselines
    shown.sort(key=lambda r: (-(r.metric if r.metric is not None else float("-inf")),
                              r.index if r.index is not None else -1))
    named = ", ".join(f"{n} {'↑' if up else '↓'}" for n, up in objectives)
    title = ("Pareto front (selection loss ↓, selection metric ↑) and baselines"
             if objectives == LOSS_METRIC
             else f"Pareto front ({named}) and baselines")
    table = Table(title=title)
    numeric = ("trial", "loss", "metric", *extra_columns)
    for column in ("trial", "arm", "method", "node", "loss", "metric", *extra_columns,
                   "coefficients", "pareto"):
        table.add_column(column, justify="right" if column in numeric else "left")
    for r in shown:
        mark = "★ pick" if same_record(r, pick) else (
            "●" if r.index is not None and r.index in front else "")
        if r.status == STOPPED:
            mark = "stopped early"
        coefficients = " ".join(
            f"{k}=[{' '.join(f'{x:.3f}' for x in v)}]" if isinstance(v, list) else f"{k}={v:.3g}"
            for k, v in r.coefficients.items()
        )
        table.add_row(
            "" if r.index is None else str(r.index), r.arm, r.method, r.node,
            f"{r.loss:.4f}" if r.loss is not None else r.status,
            f"{r.metric:.4f}" if r.metric is not None else "",
            *(f"{r.extra[c]:.4f}" if c in r.extra else "" for c in extra_columns),
            coefficients, mark,
        )
    out.print(table)


def print_outcome(outcome: object, name: str, config: StudyConfig) -> None:
    """A finished study: its Pareto table, the chosen merge, and every model's scores on
    the report rows the search never saw."""
    from bomerge.search.records import StudyOutcome, metric_columns, study_objectives

    assert isinstance(outcome, StudyOutcome)
    per_task = metric_columns(config)
    print_pareto(outcome.records, outcome.baselines, outcome.pick, show_all=False,
                 objectives=study_objectives(config), extra_columns=per_task)
    from bomerge.report.view import pick_name, verdict

    report = outcome.report
    out.print(
        f"\n[bold]Chosen merge[/] (rule: {report['pick_rule']}): {pick_name(outcome.pick)}, "
        f"coefficients {report['pick_coefficients']}"
    )
    print_report(report, per_task)
    out.print(verdict(report), soft_wrap=True)
    out.print(f"Study saved in studies folder as '{name}'. Inspect: bomerge study pareto {name}")


def print_report(report: dict[str, Any], per_task: Sequence[str] = ()) -> None:
    """The report-row scores of the picks and the baselines, and the pick's paired
    bootstrap interval against each."""
    from bomerge.report.view import pick_lines, report_rows
    from bomerge.search.claims import claim_text

    metric = report["metric"]
    against = (report.get("claims") or {}).get("against", {})
    table = Table(title=f"Report rows ({report['report_rows']} rows the search never saw)")
    table.add_column("model")
    table.add_column("method")
    table.add_column("trial", justify="right")
    table.add_column("selection " + metric, justify="right")
    table.add_column("report loss", justify="right")
    table.add_column("report " + metric, justify="right")
    for column in per_task:
        table.add_column(f"report {column}", justify="right")
    if against:
        table.add_column("pick − this [95% CI]")
    for label, score in report_rows(report):
        table.add_row(
            label, score.get("method", ""),
            "" if score["trial"] is None else str(score["trial"]),
            f"{score['selection']['metric']:.4f}",
            f"{score['report']['loss']:.4f}", f"{score['report']['metric']:.4f}",
            *(f"{score['report'][c]:.4f}" if c in score["report"] else "" for c in per_task),
            *([claim_text(against.get(label))] if against else []),
        )
    out.print(table)
    for line in pick_lines(report):
        out.print(line, soft_wrap=True)


def print_outer(store: StudyStore) -> None:
    """The outer trials of a bilevel study (hyperparameters, inner pick, selection and
    report scores) and the chosen one."""
    from bomerge.fileio import read_jsonl
    from bomerge.search.bilevel import short_value

    entries = read_jsonl(store.outer_log_path)
    result = store.read_result()
    chosen = result["pick"]["outer_trial"] if result and result.get("bilevel") else None
    names = list(dict.fromkeys(k for e in entries for k in e["params"]))
    table = Table(title="Outer trials (fine-tuning hyperparameters → inner MOBO-SWA pick)")
    for column in ("outer", *names, "inner study", "inner pick", "selection loss",
                   "selection metric", "report metric", "train s", ""):
        table.add_column(column, justify="left" if column in ("inner study", "") else "right")
    for e in entries:
        table.add_row(
            str(e["trial"]), *(short_value(e["params"].get(n)) for n in names), e["inner_study"],
            str(e["pick_trial"]), f"{e['selection']['loss']:.4f}",
            f"{e['selection']['metric']:.4f}",
            f"{e['report']['metric']:.4f}", f"{e['train_seconds']:.0f}",
            "★ pick" if e["trial"] == chosen else "",
        )
    out.print(table)
    if result and result.get("bilevel"):
        best = result["pick"]
        out.print(f"Chosen: outer trial {best['outer_trial']} (highest inner-pick selection "
                  f"metric; inner rule {best['inner_pick_rule']}), inner study "
                  f"{best['inner_study']} trial {best['inner_trial']}: report metric "
                  f"{best['report']['metric']:.4f} on rows no search saw. Inner studies: "
                  f"bomerge study pareto {best['inner_study']} --studies-dir "
                  f"{store.inner_studies_dir}", soft_wrap=True)
    else:
        out.print("[yellow]The outer study is incomplete; resume it with "
                  f"`bomerge study resume {store.name}`.[/]", soft_wrap=True)


def print_baselines(name: str, metric: str, selection_rows: int, report_rows: int,
                    results: Sequence[Any], fresh: set[str] | Sequence[str]) -> None:
    """One row per baseline of study ``name``: selection and report scores, wall time, and
    whether it was computed now or recorded by an earlier run."""
    table = Table(title=f"Baselines of study '{name}' (selection rows: "
                        f"{selection_rows}, report rows: {report_rows})")
    for column in ("baseline", "method", "trial", "selection loss", f"selection {metric}",
                   "report loss", f"report {metric}", "wall s", "note"):
        table.add_column(column,
                         justify="left" if column in ("baseline", "method", "note") else "right",
                         no_wrap=column in ("baseline", "method"))
    for r in results:
        table.add_row(
            r.label, r.method, "" if r.trial is None else str(r.trial),
            f"{r.selection['loss']:.4f}", f"{r.selection['metric']:.4f}",
            f"{r.report['loss']:.4f}", f"{r.report['metric']:.4f}",
            f"{r.seconds['wall']:.2f}",
            r.note if r.label in fresh else f"{r.note} (recorded)".strip(),
        )
    out.print(table)
    if len(fresh) < len(results):
        out.print("Rows marked (recorded) come from earlier runs; --rerun recomputes them.")
    out.print(f"Recorded in study '{name}'. Search from these arms: "
              f"bomerge study resume {name}")


def print_study_list(root: Path) -> None:
    """The studies in ``root``: name, creation time, candidates, trials, the pick, and
    whether each is finished, incomplete, running (the writer's pid and host) or damaged
    (the file at fault; the other studies are still listed). Reads files only."""
    from bomerge.fileio import read_jsonl
    from bomerge.search.study.check import file_findings
    from bomerge.search.study.lock import running_holder
    from bomerge.search.study.store import StudyStore

    table = Table(title=f"Studies in {root}")
    for column in ("name", "created", "candidates", "trials", "pick", "state"):
        table.add_column(column)
    for folder in sorted(root.glob("*/")) if root.is_dir() else []:
        store = StudyStore(folder)
        if not store.exists():
            holder = running_holder(store.directory)
            if holder is not None:
                table.add_row(folder.name, "", "", "", "",
                              f"being created (pid {holder.pid} on {holder.host})")
            elif store.damaged_folder():
                table.add_row(folder.name, "", "", "", "", "damaged: study.json missing")
            continue
        try:
            damage = file_findings(store)
            if damage:
                raise BomergeError(f"{damage[0].path.name}: {damage[0].problem} "
                                   f"(`bomerge study check {folder.name}`)")
            meta, config = store.read_meta(), store.read_config()
            if config.outer is not None:
                outer = read_jsonl(store.outer_log_path)
                result = store.read_result()
                row = [f"{len(outer)} outer", "bilevel",
                       f"outer trial {result['pick']['outer_trial']}" if result else "",
                       "finished" if result else "incomplete"]
            else:
                progress = store.logged_progress()
                pick = (progress.result or {}).get("scores", {}).get("pick", {})
                shown = (f"trial {pick['trial']}" if pick.get("trial") is not None
                         else f"baseline {pick.get('arm')}")
                row = [str(len(meta.candidates)), str(progress.trials),
                       shown if progress.finished else "",
                       "finished" if progress.finished else
                       f"incomplete ({progress.search_trials}/{progress.budget} search trials)"]
        except BomergeError as error:
            table.add_row(folder.name, "", "", "", "", f"[red]damaged: {error}[/]")
            continue
        holder = running_holder(store.directory)
        if holder:
            row[-1] = f"running (pid {holder.pid} on {holder.host})"
        table.add_row(meta.name, meta.created, row[0], row[1], row[2], row[3])
    out.print(table)


def print_findings(name: str, folder: Path, findings: list) -> None:
    """``study check``: every file that disagrees (relative to the study ``folder`` when
    inside it), what is wrong and what to do, or that every file agrees."""
    if not findings:
        out.print(f"study '{name}': every file agrees")
        return
    root = folder.resolve()
    table = Table(title=f"Study '{name}' in {folder}: {len(findings)} "
                        f"problem{'s' * (len(findings) > 1)}")
    for column in ("file", "problem", "what to do"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        path = finding.path.resolve()
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        table.add_row(str(shown), finding.problem, finding.remedy)
    out.print(table)
