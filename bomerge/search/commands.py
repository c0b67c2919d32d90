"""What the commands do with studies, below the CLI: where a new study goes, which
baselines run, the writer lock, which runner a stored study takes, and the baseline run
(the checks before any work are ``bomerge.search.preflight``'s).

Nothing here parses arguments or prints, so the command modules stay parsing and printing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bomerge.errors import BomergeError
from bomerge.search.study.store import StudyStore, resolve_studies_dir

if TYPE_CHECKING:
    from bomerge.config import StudyConfig
    from bomerge.search.records import StudyOutcome
    from bomerge.search.study.lock import Holder


def place_study(config: StudyConfig, studies_dir: Path | None) -> tuple[StudyConfig, StudyStore]:
    """The store a new study of ``config`` goes to, by the one rule of
    ``resolve_studies_dir``, and the config recording that folder (so the study's snapshot
    says where it lives)."""
    root = resolve_studies_dir(studies_dir, config)
    if root != config.studies_dir:
        config = config.model_copy(update={"studies_dir": root})
    return config, StudyStore(root / config.name)


def warm_start_baselines(config: StudyConfig) -> list[str]:
    """The baselines a new study runs before its search: the config's list (default: all)
    when the search is warm-started from them, none otherwise."""
    from bomerge.search.baselines import default_baselines

    if not config.search.warm_start:
        return []
    return list(config.baselines or default_baselines(config.candidates.tasks is not None))


def baseline_names(config: StudyConfig, only: Sequence[str] | None) -> list[str]:
    """The baselines ``bomerge baseline`` runs: ``--only`` when given, else the config's
    list, else all; refuses an unknown name."""
    from bomerge.search.baselines import check_baseline_names, default_baselines

    names = (list(only) if only
             else list(config.baselines
                       or default_baselines(config.candidates.tasks is not None)))
    check_baseline_names(names)
    return names


@contextmanager
def created_study(store: StudyStore, config: StudyConfig) -> Iterator[None]:
    """Create the study for the block; if the block fails with a ``BomergeError`` before the
    study computed anything (a trial, a baseline, a trained candidate, statistics), remove
    the folder again, so a fixed config can be run under the same name. Otherwise the
    study stays, and ``resume`` continues it once the cause is fixed."""
    store.create(config)
    try:
        yield
    except BomergeError:
        if not computed_anything(store):
            shutil.rmtree(store.directory, ignore_errors=True)
        raise


def computed_anything(store: StudyStore) -> bool:
    """Whether the study folder holds results of work (not just its config and tables)."""
    files = (store.log_path, store.baselines_path, store.training_log_path,
             store.outer_log_path)
    folders = (store.candidates_dir, store.statistics_dir, store.predictions_dir,
               store.inner_studies_dir)
    return (any(f.is_file() and f.stat().st_size for f in files)
            or any(d.is_dir() and any(d.iterdir()) for d in folders))


@contextmanager
def hold_writer(store: StudyStore, on_takeover: Callable[[Holder], None]) -> Iterator[None]:
    """Hold the study's writer lock; ``on_takeover`` hears of a lock left by a dead process
    (its holder) before any work."""
    from bomerge.search.study.lock import StudyLock

    with StudyLock(store.directory, store.name) as lock:
        if lock.previous is not None:
            on_takeover(lock.previous)
        yield


def run_stored_study(store: StudyStore, trials: int | None, show_progress: bool,
                     allow_changed: bool = False,
                     executor: str | None = None) -> StudyOutcome | None:
    """Run the stored study to completion (``trials`` more search trials, if given): the
    outer loop of a bilevel study (returns None: its result is in the store), else the
    single-level runner (returns its outcome). ``executor`` overrides the config's for this
    run only: it changes where trials run, never their scores."""
    from bomerge.search.preflight import with_executor
    from bomerge.search.runner import StudyRunner

    config = with_executor(store.read_config(), executor)
    if config.outer is not None:
        from bomerge.search.bilevel import BilevelRunner

        BilevelRunner(store, config, show_progress=show_progress).run(trials)
        return None
    runner = StudyRunner(store, config, show_progress=show_progress,
                         allow_changed_candidates=allow_changed)
    return runner.run(trials)


def inner_pick_store(store: StudyStore) -> StudyStore:
    """A bilevel study stands for the inner study of its chosen outer trial."""
    if store.read_config().outer is None:
        return store
    result = store.read_result()
    if not result or not result.get("bilevel"):
        raise BomergeError(f"bilevel study '{store.name}' has no chosen outer trial yet; "
                           f"resume it with `bomerge study resume {store.name}`")
    return StudyStore(store.inner_studies_dir / result["pick"]["inner_study"])


def check_baseline_study(store: StudyStore, config: StudyConfig, names: list[str],
                         explicit: bool, source: str) -> None:
    """Before ``bomerge baseline`` takes the lock: an existing study must have been made from
    the same config (where it lives aside), a new one must pass the preflight."""
    if store.exists():
        from bomerge.search.study.check import require_intact

        require_intact(store)
        stored = store.read_config()
        if stored.model_copy(update={"studies_dir": config.studies_dir}) != config:
            raise BomergeError(
                f"study '{store.name}' exists in {store.directory} with another config than "
                f"{source}; use a new study name"
            )
    else:
        from bomerge.search.preflight import preflight_study

        preflight_study(config, names, explicit=explicit, source=source)


@dataclass(frozen=True)
class BaselineRun:
    """What ``bomerge baseline`` reports: every result, the labels computed in this run
    (the rest were recorded earlier), the task's metric and the evaluator's row counts."""

    results: list[Any]
    fresh: set[str]
    metric: str
    selection_rows: int
    report_rows: int


def run_baseline_command(store: StudyStore, config: StudyConfig, names: list[str], rerun: bool,
                  strict: bool, show_progress: bool, allow_changed: bool) -> BaselineRun:
    """Create the study if new, then run ``names`` through its evaluator and record them
    (``rerun`` recomputes recorded ones; ``strict`` refuses one that cannot run). A study
    that has a result chooses its pick again, among the new rows too (``search.pick_from``),
    and rewrites its result. The caller holds the writer lock."""
    if not store.exists():
        with created_study(store, config):
            return _run_baselines(store, config, names, rerun, strict, show_progress,
                                  allow_changed)
    return _run_baselines(store, config, names, rerun, strict, show_progress, allow_changed)


def _run_baselines(store: StudyStore, config: StudyConfig, names: list[str], rerun: bool,
                   strict: bool, show_progress: bool, allow_changed: bool) -> BaselineRun:
    from bomerge.search.runner import StudyRunner

    runner = StudyRunner(store, config, show_progress=show_progress,
                         allow_changed_candidates=allow_changed)
    runner.open()
    results, fresh = runner.run_baselines(names, rerun=rerun, strict=strict)
    if fresh and store.result_path.is_file():
        runner.finish()
    return BaselineRun(results, fresh, runner.task.metric, len(runner.bench.selection_rows),
                       len(runner.bench.report_rows))
