"""The preflight: refuse, before any training, loading or statistics, a study that cannot run.

It checks a config against everything that can be known cheaply: the executor (a known
name that can run here), the base a method needs, the statistics a task's heads define,
the statistics and evaluation rows, the candidates' layout and heads, and the config's
``search.points``. A study that passes starts its work; one that does not stops with one
line saying what to change.

A module of its own (not the workbench's) because it asks the executor registry whether
an executor can run, and the Ray executor itself opens the workbench.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.merge.base import METHODS, MergeMethod, base_missing_message, build_method
from bomerge.merge.blockwise import SEPARATOR, Blockwise
from bomerge.merge.choice import configured_method
from bomerge.merge.groups import MODEL, encoder_layer_count
from bomerge.models import check_same_tokenizer, packaged_minilm_path
from bomerge.pool import check_candidates
from bomerge.search.baselines import METHOD_BASELINES
from bomerge.search.executors import executor_for, executor_names
from bomerge.search.records import study_objectives
from bomerge.search.space import at_granularity, study_space
from bomerge.search.strategies import get_strategy
from bomerge.search.study.database import check_storage
from bomerge.search.workbench import evaluation_rows, resolve_device, statistics_rows
from bomerge.tasks import Task, get_task


def with_executor(config: StudyConfig, executor: str | None = None) -> StudyConfig:
    """The config with ``--executor`` applied, refused when the name is not one ``executor:``
    takes or when the executor cannot run here (Ray missing). The one place that asks an
    executor whether it can run, so a new executor needs no branch here."""
    if executor is not None:
        known = executor_names()
        if executor not in known:
            raise BomergeError(f"--executor: unknown executor '{executor}' "
                               f"(known: {', '.join(known)})")
        config = config.model_copy(update={"executor": executor})
    executor_for(config).check_available()
    return config


def preflight_study(config: StudyConfig, baselines: list[str], explicit: bool = False,
                    source: str = "config") -> None:
    """Every check that needs no training, loading or statistics: the candidates' layout and
    heads, the base the study's method (and explicitly asked baselines) need, and the
    statistics rows of data-dependent methods."""
    check_candidate_count(config)
    resolve_device(config.device)  # `device: cuda` on a machine without one
    explicit_paths = list(config.candidates.paths)
    if explicit_paths and config.train is None:
        task = get_task(config.task)
        owners = config.candidates.tasks
        unmerged = None
        if all(path.is_dir() for path in explicit_paths):
            if not config.candidates.glob:  # owners also name the glob's matches
                task.check_candidates(explicit_paths, owners)
            unmerged = task.unmerged(explicit_paths, owners)
        check_candidates(explicit_paths, unmerged)  # a missing folder is named here
        check_same_tokenizer(explicit_paths)
    own = configured_method(config.merge)
    listed = {m.name for m in own.methods()}
    suite = [build_method(n) for n in baselines if n in METHOD_BASELINES and n not in listed]
    preflight(config, [own, *suite] if explicit else [own], optional=suite, source=source)


def preflight(config: StudyConfig, methods: Sequence[MergeMethod],
              optional: Sequence[MergeMethod] = (), source: str = "config") -> None:
    """Refuse, before any work, what ``methods`` cannot run with: a missing base, missing
    statistics rows, or candidates whose head is not the task's classifier. ``optional``
    methods (a baseline suite) are skipped later when they lack a base, but their
    statistics rows are checked too."""
    task = get_task(config.task)
    for member in (member for method in methods for member in method.methods()):
        if member.needs_base and not has_base(config):
            raise BomergeError(base_missing_message(member.name))
        if not task_supports(task, member):
            raise BomergeError(unsupported_message(task, member))
    if config.candidates.base not in (None, "minilm"):
        folder = Path(config.candidates.base)  # type: ignore[arg-type]
        if not folder.is_dir():
            raise BomergeError(f"candidates.base: model folder not found: {folder}")
    check_storage(config.storage.url)
    check_objectives(config)
    with_executor(config)
    selection, _ = evaluation_rows(config, task)
    check_early_stopping(config, len(selection))
    if config.train is not None:
        task.load_split(config.task.data, "train")
    runnable = [*methods, *(m for m in optional if has_base(config) or not m.needs_base)]
    if any(method.uses_data() for method in runnable):
        statistics_rows(config, task)
    paths = list(config.candidates.paths)
    if paths and all(path.is_dir() for path in paths) and not config.candidates.glob:
        task.check_candidates(paths, config.candidates.tasks)
    elif config.candidates.tasks is None:
        for path in paths:
            if path.is_dir():
                task.check_head(path)
    k = expected_candidates(config)
    layers = layer_count(config) if config.merge.granularity != MODEL else None
    own = (configured_method(config.merge, lambda m: at_granularity(m, config, layers))
           if layers is not None else configured_method(config.merge))
    if not own.variables(k or 2):
        raise BomergeError(f"search.strategy '{config.search.strategy}' has nothing to search: "
                           f"merge method '{own.name}' has no search variables")
    if k is not None and methods:
        check_points(config, own, k, source)


def check_candidate_count(config: StudyConfig) -> None:
    """Refuse fewer than two candidates (a merge of one model is that model) and a folder
    listed twice (directly, or matched by a glob too), as far as they are known before
    training."""
    listed = [Path(p) for p in config.candidates.paths]
    for pattern in config.candidates.glob:
        listed += sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_dir())
    seen: dict[Path, Path] = {}
    for path in listed:
        key = path.resolve()
        if key in seen:
            raise BomergeError(f"candidates: folder {path} is listed twice"
                               + (f" (also as {seen[key]})" if seen[key] != path else "")
                               + "; a merge takes each candidate once")
        seen[key] = path
    k = expected_candidates(config)
    if k is not None and k < 2:
        raise BomergeError(f"candidates: {k} candidate folder; a merge needs at least 2 "
                           "(candidates.paths, candidates.glob or train.keep_last)")


def check_objectives(config: StudyConfig) -> None:
    """Refuse more objectives than the search strategy's acquisition can take."""
    strategy = get_strategy(config.search.strategy)
    count = len(study_objectives(config))
    if strategy.max_objectives is not None and count > strategy.max_objectives:
        raise BomergeError(
            f"search.strategy '{strategy.name}' takes at most {strategy.max_objectives} "
            f"objectives (qLogNEHVI); search.objectives '{config.search.objectives}' gives "
            f"{count}: use search.strategy parego, or search.objectives average")


def check_early_stopping(config: StudyConfig, selection_rows: int) -> None:
    """Refuse early stopping the study's strategy cannot use, or more chunks than rows."""
    settings = config.search.early_stopping
    if not settings.enabled:
        return
    strategy = get_strategy(config.search.strategy)
    if not strategy.supports_early_stopping:
        raise BomergeError(f"search.early_stopping: search.strategy '{strategy.name}' cannot "
                           "use partial scores (use gp or saas, or disable early stopping)")
    if settings.chunks > selection_rows:
        raise BomergeError(f"search.early_stopping.chunks {settings.chunks}: more chunks than "
                           f"the {selection_rows} selection rows")


def layer_count(config: StudyConfig) -> int | None:
    """The candidates' number of encoder layers as far as it is known before training: the
    first listed candidate's, else the model a ``train:`` section starts from."""
    for path in config.candidates.paths:
        if (path / "config.json").is_file():
            return encoder_layer_count(path)
    train = config.train
    if train is None:
        return None
    if train.model == "tiny":
        return train.tiny.num_hidden_layers
    folder = packaged_minilm_path() if train.model == "minilm" else Path(train.model)
    return encoder_layer_count(folder) if (folder / "config.json").is_file() else None


def has_base(config: StudyConfig) -> bool:
    """Whether the study has θ_0: ``candidates.base``, or the start of its own training run."""
    return config.candidates.base is not None or config.train is not None


def task_supports(task: Task, method: MergeMethod) -> bool:
    """Whether the task's heads define every statistic the method computes (Fisher, K-FAC,
    loss gradients)."""
    return method.needed_statistics() <= task.statistics


def unsupported_message(task: Task, method: MergeMethod) -> str:
    """Why ``method`` cannot serve ``task``, and which methods can. Those are judged at their
    default options, and the message says so: another option (``mask: learned``) may need
    statistics the defaults do not."""
    missing = ", ".join(sorted(method.needed_statistics() - task.statistics))
    usable = [name for name in METHODS if task_supports(task, build_method(name))]
    return (f"merge method '{method.name}' (options {method.options.model_dump()}) does not "
            f"support task '{task.name}': its heads define no {missing} statistics; use one of "
            f"{', '.join(usable)} (with their default options)")


def expected_candidates(config: StudyConfig) -> int | None:
    """K as far as it is known before training: listed folders, glob matches and the
    snapshots a training run keeps."""
    k = len(config.candidates.paths) + sum(train.keep_last for _, train in config.training_runs())
    for pattern in config.candidates.glob:
        k += sum(1 for p in glob.glob(pattern) if Path(p).is_dir())
    return k or None


def check_points(config: StudyConfig, method: MergeMethod, k: int,
                 source: str = "config") -> list[dict[str, Any]]:
    """The config's ``search.points`` as method values for K candidates (BomergeError
    naming the point, variable and value that cannot be used). A block-wise study takes
    block points (``{embeddings__w: [...], ...}``) or model-level ones, lifted when attached."""
    checked = []
    for i, point in enumerate(config.search.points):
        model_level = isinstance(method, Blockwise) and not any(SEPARATOR in n for n in point)
        space = study_space(config, method.inner if model_level else method, k)
        checked.append(space.check_point(point, f"{source}: search.points[{i}]"))
    return checked
