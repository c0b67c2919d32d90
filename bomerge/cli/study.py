"""``bomerge study run | resume | pareto | report | export | list``: parse the arguments,
call the search, report and export layers, print the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from bomerge.cli.app import (
    AllowChanged,
    ConfigPath,
    ConfigStudiesDir,
    Executor,
    Quiet,
    StudiesDir,
    StudyName,
    Trials,
    err,
    out,
    study_app,
    warn_takeover,
)
from bomerge.cli.tables import (
    print_outcome,
    print_outer,
    print_pareto,
    print_report,
    print_study_list,
)
from bomerge.errors import BomergeError
from bomerge.search.commands import (
    created_study,
    hold_writer,
    inner_pick_store,
    place_study,
    run_stored_study,
    warm_start_baselines,
)
from bomerge.search.study.check import open_study
from bomerge.search.study.store import resolve_studies_dir

if TYPE_CHECKING:
    from bomerge.search.study.store import StudyStore


@study_app.command("run")
def study_run(
    config_path: ConfigPath,
    trials: Trials = None,
    quiet: Quiet = False,
    executor: Executor = None,
    studies_dir: ConfigStudiesDir = None,
) -> None:
    """Create a study from CONFIG and run it to completion."""
    from bomerge.search.config_names import load_study_config
    from bomerge.search.preflight import preflight_study, with_executor

    config = load_study_config(config_path)
    with_executor(config, executor)  # refuse a bad --executor before any work; applied per run
    config, store = place_study(config, studies_dir)
    store.refuse_existing()
    preflight_study(config, warm_start_baselines(config), source=str(config_path))
    with hold_writer(store, warn_takeover(store)):
        store.refuse_existing()  # another `study run` may have created it meanwhile
        with created_study(store, config):
            _run(store, trials, quiet, executor=executor)


@study_app.command("resume")
def study_resume(
    name: StudyName,
    trials: Trials = None,
    studies_dir: StudiesDir = None,
    quiet: Quiet = False,
    allow_changed: AllowChanged = False,
    executor: Executor = None,
) -> None:
    """Continue a stopped study (or extend a finished one with --trials N)."""
    store = open_study(name, studies_dir)  # a damaged study is refused before locking it
    with hold_writer(store, warn_takeover(store)):
        _run(store, trials, quiet, allow_changed, executor)


def _run(store: StudyStore, trials: int | None, quiet: bool, allow_changed: bool = False,
         executor: str | None = None) -> None:
    """Run the stored study and print its outcome (a bilevel study: its outer trials); an
    interrupt says how to continue and exits 130."""
    try:
        outcome = run_stored_study(store, trials, not quiet, allow_changed, executor)
        if outcome is None:
            print_outer(store)
            return
    except KeyboardInterrupt:
        err.print(f"interrupted: completed trials are saved; continue with "
                  f"`bomerge study resume {store.name}`", soft_wrap=True)
        raise typer.Exit(130) from None
    print_outcome(outcome, store.name, store.read_config())


@study_app.command("pareto")
def study_pareto(
    name: StudyName,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every trial, not just the front.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    studies_dir: StudiesDir = None,
) -> None:
    """The Pareto set and baselines of a study: trial, method, loss, metric, coefficients,
    generation node, sorted by metric, the pick marked; then the report-row scores of the
    picks and baselines with the pick's paired bootstrap interval against each."""
    from dataclasses import asdict

    from bomerge.report.view import StudyView

    store = open_study(name, studies_dir)
    if store.read_config().outer is not None:
        print_outer(store)
        return
    view = StudyView.load(store)
    from bomerge.report.view import verdict

    if as_json:
        front = {r.index for r in view.front}
        payload = {
            "study": store.name,
            "complete": view.complete,
            "state": view.state,
            "pick": view.pick.index,
            "pick_arm": view.pick.arm,
            "pick_method": view.pick.method,
            "verdict": verdict(view.result) if view.result is not None else None,
            "pick_rule": view.config.search.pick,
            "pick_by": view.config.search.pick_by,
            "selection": view.selection_rule(),
            "trials": [asdict(r) | {"pareto": r.index in front} for r in view.records],
            "baselines": [asdict(r) for r in view.others],
            "report": view.result,
            "claims": (view.result or {}).get("claims"),
        }
        out.print_json(json.dumps(payload))
        return
    from bomerge.report.view import pick_name, verdict
    from bomerge.search.records import study_objectives

    if view.result is not None:
        out.print(verdict(view.result), soft_wrap=True)
    print_pareto(view.records, view.others, view.pick, show_all,
                 study_objectives(view.config), view.extra_columns)
    out.print(f"Pick: {pick_name(view.pick)}, chosen on the {view.selection_rule()}.")
    if view.result is not None:
        print_report(view.result, view.extra_columns)
    if not view.complete:
        out.print(f"[yellow]The study is {view.state}.[/]", soft_wrap=True)


@study_app.command("report")
def study_report(
    name: StudyName,
    out_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", help="HTML file (default: NAME-report.html in the working "
                                       "folder; the study folder is only read)."),
    ] = None,
    studies_dir: StudiesDir = None,
) -> None:
    """One self-contained HTML page (objective plane, progress, coefficients, trials) and a
    PNG of the objective plane beside it."""
    from bomerge.report.page import write_page
    from bomerge.report.static import write_plane_png
    from bomerge.report.view import StudyView

    store = inner_pick_store(open_study(name, studies_dir))
    view = StudyView.load(store)
    page = write_page(view, out_file or Path(f"{store.name}-report.html"))
    png = write_plane_png(view, page.with_suffix(".png"))
    out.print(f"Report: {page}\nObjective plane: {png}")
    if not view.complete:
        out.print(f"[yellow]The study is {view.state}.[/]", soft_wrap=True)


@study_app.command("export")
def study_export(
    name: StudyName,
    out_dir: Annotated[
        Path, typer.Argument(metavar="OUT_DIR", help="Folder for the merged model.")
    ],
    trial: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--trial", help="Export this trial (default: the pick)."),
    ] = None,
    use_pick: Annotated[
        bool, typer.Option("--pick", help="Export the pick (the default).")
    ] = False,
    baseline: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--baseline",
                     help="Export a recorded baseline of another method (e.g. ties)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an earlier export in OUT_DIR.")
    ] = False,
    studies_dir: StudiesDir = None,
    quiet: Quiet = False,
) -> None:
    """Write the chosen merge as a Hugging Face model folder with its provenance."""
    from bomerge.export import ExportChoice, export_merge

    if sum([trial is not None, use_pick, baseline is not None]) > 1:
        raise BomergeError("give one of --trial N, --pick, --baseline LABEL")
    store = open_study(name, studies_dir)
    if store.read_config().outer is not None:
        if trial is not None or baseline is not None:
            raise BomergeError(f"study '{store.name}' is bilevel: --trial/--baseline name trials "
                               "of an inner study; export from it (--studies-dir "
                               f"{store.inner_studies_dir})")
        store = inner_pick_store(store)
    provenance = export_merge(store, ExportChoice(trial=trial, baseline=baseline), out_dir,
                              force, show_progress=not quiet)
    which = (f"trial {provenance['trial']}" if provenance["trial"] is not None
             else f"baseline {provenance['arm']}")
    out.print(f"Exported {which} ({provenance['method']}) of study '{store.name}' to {out_dir}; "
              f"provenance in {out_dir / 'bomerge_merge.json'}", soft_wrap=True)


@study_app.command("list")
def study_list(studies_dir: StudiesDir = None) -> None:
    """The studies in the studies folder."""
    print_study_list(resolve_studies_dir(studies_dir))


@study_app.command("check")
def study_check(
    name: StudyName,
    studies_dir: StudiesDir = None,
    no_hashes: Annotated[bool, typer.Option(
        "--no-hashes", help="Skip hashing the candidates' weight files.")] = False,
) -> None:
    """Check a study's files against each other (database, trials.jsonl, study.json,
    baselines, predictions, result, candidate hashes) and print what disagrees; exit 2
    when anything does. Reads only."""
    from bomerge.cli.tables import print_findings
    from bomerge.search.study.check import full_findings
    from bomerge.search.study.store import StudyStore

    store = StudyStore.locate(name, studies_dir)
    findings = full_findings(store, hashes=not no_hashes)
    print_findings(store.name, store.directory, findings)
    if findings:
        raise typer.Exit(2)
