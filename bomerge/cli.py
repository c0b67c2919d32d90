"""The ``bomerge`` command line."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from bomerge.baselines import BASELINES
from bomerge.errors import BomergeError
from bomerge.search.store import StudyStore

if TYPE_CHECKING:
    from bomerge.config import StudyConfig

app = typer.Typer(
    help="Bayesian-optimisation-driven model-merge tuner for BERT-style models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
study_app = typer.Typer(help="Run, resume and inspect merge studies.", no_args_is_help=True)
app.add_typer(study_app, name="study")



def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # Piped into a file or a CI log, rich would squeeze tables into 80 columns and cut
        # the numbers; a wide page keeps every column readable.
        console.width = 200
    return console


out = _console()
err = _console(stderr=True)

StudiesDir = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
    typer.Option("--studies-dir", help="Folder of studies (default: $BOMERGE_STUDIES_DIR or ./studies)."),
]
Trials = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--trials", min=0, help="Search trials to add beyond those done."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
Executor = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--executor", help="local | ray: where search trials run (default: the config's)."),
]
AllowChanged = Annotated[
    bool,
    typer.Option("--allow-changed-candidates",
                 help="Accept candidate weights that changed since the study recorded them."),
]


def _print_outcome(outcome: object, name: str, config: StudyConfig) -> None:
    from bomerge.search.study import StudyOutcome, study_objectives
    from bomerge.tasks.glue import get_task

    assert isinstance(outcome, StudyOutcome)
    task = get_task(config.task.name)
    per_task = list(task.extra_metrics) if task.is_multitask else []
    _print_pareto(outcome.records, outcome.baselines, outcome.pick.index, show_all=False,
                  objectives=study_objectives(config), extra_columns=per_task)
    report = outcome.report
    metric = report["metric"]
    pick = report["scores"]["pick"]
    out.print(
        f"\n[bold]Chosen merge[/] (rule: {report['pick_rule']}): trial {pick['trial']} "
        f"({pick['arm']}), coefficients {report['pick_coefficients']}"
    )
    table = Table(title=f"Report rows ({report['report_rows']} rows the search never saw)")
    table.add_column("model")
    table.add_column("method")
    table.add_column("trial", justify="right")
    table.add_column("selection " + metric, justify="right")
    table.add_column("report loss", justify="right")
    table.add_column("report " + metric, justify="right")
    for column in per_task:
        table.add_column(f"report {column}", justify="right")
    for label, score in report["scores"].items():
        table.add_row(
            label, score.get("method", ""),
            "" if score["trial"] is None else str(score["trial"]),
            f"{score['selection']['metric']:.4f}",
            f"{score['report']['loss']:.4f}", f"{score['report']['metric']:.4f}",
            *(f"{score['report'][c]:.4f}" if c in score["report"] else "" for c in per_task),
        )
    out.print(table)
    out.print(f"Study saved in studies folder as '{name}'. Inspect: bomerge study pareto {name}")


def _print_pareto(records: list, baselines: list, pick_index: int | None, show_all: bool,
                  objectives: tuple = (), extra_columns: list[str] = ()) -> None:  # type: ignore[assignment]
    """Trials on the Pareto front (or all), the study's baseline arms, and baselines of
    other methods (no trial number), sorted by metric; a multitask study shows every
    sub-task's metric."""
    from bomerge.search.pareto import LOSS_METRIC, pareto_set

    objectives = objectives or LOSS_METRIC
    front = {r.index for r in pareto_set(records, objectives)}
    shown = [r for r in records if show_all or r.index in front or r.is_baseline] + baselines
    shown.sort(key=lambda r: (-(r.metric if r.metric is not None else float("-inf")),
                              r.index if r.index is not None else -1))
    named = ", ".join(f"{n} {'↑' if up else '↓'}" for n, up in objectives)
    title = ("Pareto front (dev loss ↓, dev metric ↑) and baselines" if objectives == LOSS_METRIC
             else f"Pareto front ({named}) and baselines")
    table = Table(title=title)
    numeric = ("trial", "loss", "metric", *extra_columns)
    for column in ("trial", "arm", "method", "node", "loss", "metric", *extra_columns,
                   "coefficients", "pareto"):
        table.add_column(column, justify="right" if column in numeric else "left")
    for r in shown:
        mark = "★ pick" if r.index is not None and r.index == pick_index else (
            "●" if r.index is not None and r.index in front else "")
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


@study_app.command("run")
def study_run(
    config_path: Annotated[Path, typer.Argument(metavar="CONFIG", help="Study YAML file.")],
    trials: Trials = None,
    quiet: Quiet = False,
    executor: Executor = None,
) -> None:
    """Create a study from CONFIG and run it to completion."""
    from bomerge.config import load_config

    config = load_config(config_path)
    _with_executor(config, executor)
    store = StudyStore(config.study_dir)
    store.refuse_existing()
    _preflight(config, list(config.baselines or BASELINES) if config.search.warm_start else [],
               source=str(config_path))
    with _writer(store):
        store.refuse_existing()  # another `study run` may have created it meanwhile
        store.create(config)
        _run(store, trials, quiet, executor=executor)


@contextmanager
def _writer(store: StudyStore) -> Iterator[None]:
    """Hold the study's writer lock, saying so when taking over one left by a dead process."""
    from bomerge.search.lock import StudyLock

    with StudyLock(store.directory, store.name) as lock:
        if lock.previous is not None:
            err.print(f"[yellow]took over the lock of study '{store.name}' left by "
                      f"{lock.previous.describe()}, which is no longer running[/]", soft_wrap=True)
        yield


def _preflight(config: object, baselines: list[str], explicit: bool = False,
               source: str = "config") -> None:
    """Every check that needs no training, loading or statistics: the candidates' layout and
    heads, the base the study's method (and explicitly asked baselines) need, and the
    statistics rows of data-dependent methods."""
    from bomerge.baselines import METHOD_BASELINES
    from bomerge.config import StudyConfig
    from bomerge.merge import build_method
    from bomerge.models import check_same_tokenizer
    from bomerge.pool import check_candidates
    from bomerge.search.workbench import preflight

    assert isinstance(config, StudyConfig)
    explicit_paths = list(config.candidates.paths)
    if explicit_paths and config.train is None:
        check_candidates(explicit_paths)
        check_same_tokenizer(explicit_paths)
    own = build_method(config.merge.method, config.merge.options)
    suite = [build_method(n) for n in baselines if n in METHOD_BASELINES and n != own.name]
    preflight(config, [own, *suite] if explicit else [own], optional=suite, source=source)


@study_app.command("resume")
def study_resume(
    name: Annotated[str, typer.Argument(help="Study name (or its folder).")],
    trials: Trials = None,
    studies_dir: StudiesDir = None,
    quiet: Quiet = False,
    allow_changed: AllowChanged = False,
    executor: Executor = None,
) -> None:
    """Continue a stopped study (or extend a finished one with --trials N)."""
    store = StudyStore.locate(name, studies_dir)
    store.read_meta(), store.read_config()  # refuse an unreadable study before locking it
    with _writer(store):
        _run(store, trials, quiet, allow_changed, executor)


def _with_executor(config: StudyConfig, executor: str | None) -> StudyConfig:
    """The config with ``--executor`` applied; refuses an unknown name, or Ray missing."""
    if executor is not None:
        if executor not in ("local", "ray"):
            raise BomergeError(f"--executor: unknown executor '{executor}' (known: local, ray)")
        config = config.model_copy(update={"executor": executor})
    if config.executor == "ray":
        from bomerge.search.ray_executor import import_ray

        import_ray()
    return config


def _run(store: StudyStore, trials: int | None, quiet: bool, allow_changed: bool = False,
         executor: str | None = None) -> None:
    """Run the stored study; ``executor`` overrides the config's for this run only (it
    changes where trials run, never their scores)."""
    from bomerge.search.study import StudyRunner

    config = _with_executor(store.read_config(), executor)
    try:
        if config.outer is not None:
            from bomerge.search.bilevel import BilevelRunner

            BilevelRunner(store, config, show_progress=not quiet).run(trials)
            _print_outer(store)
            return
        runner = StudyRunner(store, config, show_progress=not quiet,
                             allow_changed_candidates=allow_changed)
        outcome = runner.run(trials)
    except KeyboardInterrupt:
        err.print(f"interrupted: completed trials are saved; continue with "
                  f"`bomerge study resume {store.name}`", soft_wrap=True)
        raise typer.Exit(130) from None
    _print_outcome(outcome, store.name, config)


def _print_outer(store: StudyStore) -> None:
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
            str(e["pick_trial"]), f"{e['selection']['loss']:.4f}", f"{e['selection']['metric']:.4f}",
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



@study_app.command("pareto")
def study_pareto(
    name: Annotated[str, typer.Argument(help="Study name (or its folder).")],
    show_all: Annotated[bool, typer.Option("--all", help="Every trial, not just the front.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    studies_dir: StudiesDir = None,
) -> None:
    """The Pareto set and baselines of a study: trial, method, loss, metric, coefficients,
    generation node, sorted by metric, the pick marked."""
    from dataclasses import asdict

    from bomerge.report.view import StudyView

    store = StudyStore.locate(name, studies_dir)
    if store.read_config().outer is not None:
        _print_outer(store)
        return
    view = StudyView.load(store)
    if as_json:
        front = {r.index for r in view.front}
        payload = {
            "study": store.name,
            "complete": view.complete,
            "state": view.state,
            "pick": view.pick.index,
            "pick_rule": view.config.search.pick,
            "selection": view.selection_rule(),
            "trials": [asdict(r) | {"pareto": r.index in front} for r in view.records],
            "baselines": [asdict(r) for r in view.others],
            "report": view.result,
        }
        out.print_json(json.dumps(payload))
        return
    from bomerge.search.study import study_objectives

    _print_pareto(view.records, view.others, view.pick.index, show_all,
                  study_objectives(view.config), view.extra_columns)
    out.print(f"Pick: trial {view.pick.index}, chosen on the {view.selection_rule()}.")
    if not view.complete:
        out.print(f"[yellow]The study is {view.state}.[/]", soft_wrap=True)


@study_app.command("report")
def study_report(
    name: Annotated[str, typer.Argument(help="Study name (or its folder).")],
    out_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", help="HTML file (default: studies/NAME/report.html)."),
    ] = None,
    studies_dir: StudiesDir = None,
) -> None:
    """One self-contained HTML page (objective plane, progress, coefficients, trials) and a
    PNG of the objective plane beside it."""
    from bomerge.report.page import write_page
    from bomerge.report.static import write_plane_png
    from bomerge.report.view import StudyView

    store = _inner_pick_store(StudyStore.locate(name, studies_dir))
    view = StudyView.load(store)
    page = write_page(view, out_file or store.directory / "report.html")
    png = write_plane_png(view, page.with_suffix(".png"))
    out.print(f"Report: {page}\nObjective plane: {png}")
    if not view.complete:
        out.print(f"[yellow]The study is {view.state}.[/]", soft_wrap=True)


@study_app.command("export")
def study_export(
    name: Annotated[str, typer.Argument(help="Study name (or its folder).")],
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Folder for the merged model.")],
    trial: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--trial", help="Export this trial (default: the pick)."),
    ] = None,
    use_pick: Annotated[bool, typer.Option("--pick", help="Export the pick (the default).")] = False,
    baseline: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--baseline", help="Export a recorded baseline of another method (e.g. ties)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty OUT_DIR.")] = False,
    studies_dir: StudiesDir = None,
    quiet: Quiet = False,
) -> None:
    """Write the chosen merge as a Hugging Face model folder with its provenance."""
    from bomerge.export import ExportChoice, export_merge

    if sum([trial is not None, use_pick, baseline is not None]) > 1:
        raise BomergeError("give one of --trial N, --pick, --baseline LABEL")
    store = StudyStore.locate(name, studies_dir)
    if store.read_config().outer is not None:
        if trial is not None or baseline is not None:
            raise BomergeError(f"study '{store.name}' is bilevel: --trial/--baseline name trials "
                               "of an inner study; export from it (--studies-dir "
                               f"{store.inner_studies_dir})")
        store = _inner_pick_store(store)
    provenance = export_merge(store, ExportChoice(trial=trial, baseline=baseline), out_dir,
                              force, show_progress=not quiet)
    which = (f"trial {provenance['trial']}" if provenance["trial"] is not None
             else f"baseline {provenance['arm']}")
    out.print(f"Exported {which} ({provenance['method']}) of study '{store.name}' to {out_dir}; "
              f"provenance in {out_dir / 'bomerge_merge.json'}", soft_wrap=True)


def _inner_pick_store(store: StudyStore) -> StudyStore:
    """A bilevel study stands for the inner study of its chosen outer trial."""
    if store.read_config().outer is None:
        return store
    result = store.read_result()
    if not result or not result.get("bilevel"):
        raise BomergeError(f"bilevel study '{store.name}' has no chosen outer trial yet; "
                           f"resume it with `bomerge study resume {store.name}`")
    return StudyStore(store.inner_studies_dir / result["pick"]["inner_study"])


@study_app.command("list")
def study_list(studies_dir: StudiesDir = None) -> None:
    """The studies in the studies folder."""
    from bomerge.search.lock import running_holder
    from bomerge.search.store import default_studies_dir

    root = studies_dir or default_studies_dir()
    table = Table(title=f"Studies in {root}")
    for column in ("name", "created", "candidates", "trials", "state"):
        table.add_column(column)
    for folder in sorted(root.glob("*/")) if root.is_dir() else []:
        store = StudyStore(folder)
        if not store.exists():
            continue
        meta = store.read_meta()
        trials = str(len(store.logged_trials()))
        candidates = str(len(meta.candidates))
        outer_log = store.outer_log_path
        if outer_log.is_file() or store.read_config().outer is not None:
            from bomerge.fileio import read_jsonl

            trials, candidates = f"{len(read_jsonl(outer_log))} outer", "bilevel"
        holder = running_holder(store.directory)
        state = (f"running (pid {holder.pid} on {holder.host})" if holder
                 else "finished" if store.result_path.is_file() else "incomplete")
        table.add_row(meta.name, meta.created, candidates, trials, state)
    out.print(table)


@app.command("baseline")
def baseline(
    config_path: Annotated[Path, typer.Argument(metavar="CONFIG", help="Study YAML file.")],
    only: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--only", help=f"Run only these ({', '.join(BASELINES)}); repeatable."),
    ] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Recompute recorded baselines.")] = False,
    quiet: Quiet = False,
    allow_changed: AllowChanged = False,
) -> None:
    """Run fixed merging recipes through the study's evaluator and record them in the study
    (created if new): single candidates, uniform soup/SWA, greedy soup, Fisher, RegMean,
    MaTS, task arithmetic, TIES, Localize-and-Stitch."""
    from bomerge.baselines import check_baseline_names
    from bomerge.config import load_config
    from bomerge.search.study import StudyRunner

    config = load_config(config_path)
    names = list(only) if only else list(config.baselines or BASELINES)
    check_baseline_names(names)
    store = StudyStore(config.study_dir)
    if store.exists():
        if store.read_config() != config:
            raise BomergeError(
                f"study '{store.name}' exists in {store.directory} with another config than "
                f"{config_path}; use a new study name"
            )
    else:
        _preflight(config, names, explicit=bool(only), source=str(config_path))
    with _writer(store):
        if not store.exists():
            store.create(config)
        runner = StudyRunner(store, config, show_progress=not quiet,
                             allow_changed_candidates=allow_changed)
        runner.open()
        results, fresh = runner.run_baselines(names, rerun=rerun, strict=bool(only))
    metric = runner.task.metric
    table = Table(title=f"Baselines of study '{store.name}' (selection rows: "
                        f"{len(runner.bench.selection_rows)}, report rows: {len(runner.bench.report_rows)})")
    for column in ("baseline", "method", "trial", "dev loss", f"dev {metric}", "report loss",
                   f"report {metric}", "wall s", "note"):
        table.add_column(column, justify="left" if column in ("baseline", "method", "note") else "right",
                         no_wrap=column in ("baseline", "method"))
    for r in results:
        table.add_row(
            r.label, r.method, "" if r.trial is None else str(r.trial),
            f"{r.selection['loss']:.4f}", f"{r.selection['metric']:.4f}",
            f"{r.report['loss']:.4f}", f"{r.report['metric']:.4f}",
            f"{r.seconds['wall']:.2f}", r.note if r.label in fresh else f"{r.note} (recorded)".strip(),
        )
    out.print(table)
    if len(fresh) < len(results):
        out.print("Rows marked (recorded) come from earlier runs; --rerun recomputes them.")
    out.print(f"Recorded in study '{store.name}'. Search from these arms: "
              f"bomerge study resume {store.name}")


@app.command("eval")
def evaluate_model(
    model_dir: Annotated[Path, typer.Argument(metavar="MODEL_DIR", help="Hugging Face model folder.")],
    task: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--task", help="sst2 | mrpc | rte | cola | stsb (default: the study's)."),
    ] = None,
    data: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--data", help="GLUE root, task folder or TSV file (default: the study's)."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="train | dev (folder data).")] = "dev",
    part: Annotated[
        str, typer.Option("--part", help="all | selection | report part of the split.")
    ] = "all",
    study: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--study", help="Take task, data, max length, batch size and row caps "
                                     "from this study's config."),
    ] = None,
    max_length: Annotated[Optional[int], typer.Option("--max-length")] = None,  # noqa: UP045
    batch_size: Annotated[Optional[int], typer.Option("--batch-size")] = None,  # noqa: UP045
    max_examples: Annotated[Optional[int], typer.Option("--max-examples")] = None,  # noqa: UP045
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda[:N]")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    studies_dir: StudiesDir = None,
) -> None:
    """Evaluate any model folder (an exported merge included) on any split and print loss
    and metric: score the pick on rows the search never saw."""
    from bomerge.scoring import RowsSpec, load_rows, score_model
    from bomerge.search.workbench import resolve_device
    from bomerge.tasks.glue import get_task

    if part not in ("all", "selection", "report"):
        raise BomergeError(f"--part '{part}': use all, selection or report")
    if not model_dir.is_dir():
        raise BomergeError(f"{model_dir}: model folder not found")
    fraction, cap, length, batch, hub = 0.5, None, 128, 64, False
    if study is not None:
        config = StudyStore.locate(study, studies_dir).read_config()
        ev = config.task.eval
        task = task or config.task.name
        data = data or config.task.data.root
        fraction, length, batch, hub = ev.selection_fraction, config.task.max_length, ev.batch_size, config.task.data.hub
        cap = {"selection": ev.max_selection_examples, "report": ev.max_report_examples}.get(part)
    if task is None:
        raise BomergeError("give --task (or --study NAME)")
    spec = get_task(task)
    rows = load_rows(spec, RowsSpec(data, split, part, fraction, max_examples or cap, hub))  # type: ignore[arg-type]
    result = score_model(model_dir, spec, rows, max_length or length, batch_size or batch,
                         resolve_device(device))
    payload = {"model": str(model_dir), "task": task, "split": split, "part": part,
               "rows": result.n, "loss": result.loss, spec.metric: result.metric, **result.extra}
    if as_json:
        out.print_json(json.dumps(payload))
        return
    extra = "".join(f"  {k} {v:.4f}" for k, v in result.extra.items())
    out.print(f"{model_dir}: {task} {split} ({part}, {result.n} rows)  loss {result.loss:.4f}  "
              f"{spec.metric} {result.metric:.4f}{extra}", soft_wrap=True)


@app.command("train")
def train(
    config_path: Annotated[Path, typer.Argument(metavar="CONFIG", help="YAML with task: and train:.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the kept checkpoints.")],
    quiet: Quiet = False,
) -> None:
    """Fine-tune a model on a task and keep the last k checkpoints (SWA candidates)."""
    from bomerge.config import load_config
    from bomerge.search.study import resolve_device
    from bomerge.train.finetune import finetune

    config = load_config(config_path)
    if config.train is None:
        raise BomergeError(f"{config_path}: no 'train' section")
    paths = finetune(config.task, config.train, out_dir, resolve_device(config.device), not quiet)
    for path in paths:
        out.print(str(path))


def _click_errors() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Click's usage-error and abort classes: typer ≥ 0.20 raises its own bundled copy of
    click's errors and its own Abort, older typer click's."""
    import click

    usage: list[type] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException as BundledClickException
    except ImportError:
        pass
    else:
        usage.append(BundledClickException)
    return tuple(usage), (click.exceptions.Abort, typer.Abort)


def main() -> None:
    """Entry point: user errors are one line on stderr, exit code 2 (1 for the unexpected);
    ``BOMERGE_DEBUG=1`` shows tracebacks."""
    debug = bool(os.environ.get("BOMERGE_DEBUG"))
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except BomergeError as error:
        if debug:
            raise
        err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted: completed trials are saved; continue with "
                  "`bomerge study resume NAME`", soft_wrap=True)
        sys.exit(130)
    except (typer.Exit, SystemExit) as done:
        sys.exit(getattr(done, "exit_code", None) or getattr(done, "code", 0) or 0)
    except Exception as error:  # noqa: BLE001 - click usage errors and the unexpected
        click_exception, abort = _click_errors()
        if isinstance(error, click_exception):
            error.show()
            sys.exit(error.exit_code)
        if isinstance(error, abort):
            sys.exit(130)
        if debug:
            raise
        err.print(f"[bold red]internal error:[/] {type(error).__name__}: {error} "
                  "(set BOMERGE_DEBUG=1 for a traceback)", highlight=False, soft_wrap=True)
        sys.exit(1)
