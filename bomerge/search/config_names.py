"""Resolving the names a study config holds: the task, the merge method and its options, the
baselines and the search strategies.

``bomerge.config`` validates a file's structure and holds these names as strings; the
layers that own them resolve them here, so an unknown name still stops with one line
naming the file before any work.
"""

from __future__ import annotations

from pathlib import Path

from bomerge.config import StudyConfig, load_config
from bomerge.errors import BomergeError
from bomerge.merge.choice import configured_method
from bomerge.search.baselines import check_baseline_names
from bomerge.search.strategies import get_strategy
from bomerge.tasks import get_task
from bomerge.train.intermediate import check_intermediate


def check_names(config: StudyConfig, source: str) -> StudyConfig:
    """Refuse a config whose task, method, options, baselines or strategy are unknown, or
    whose settings its task cannot honour; the message starts with ``source``."""
    try:
        get_task(config.task).check_config(config)
        for _, train in config.training_runs():
            check_intermediate(config.task, train)
        configured_method(config.merge)
        if config.baselines is not None:
            check_baseline_names(config.baselines)
        get_strategy(config.search.strategy)
        check_pick_by(config)
        if config.outer is not None:
            get_strategy(config.outer.strategy)
    except BomergeError as error:
        raise BomergeError(f"{source}: {error}") from None
    return config


def check_pick_by(config: StudyConfig) -> None:
    """``search.pick_by: model`` picks on the posterior means of the GP the search fits; a
    study whose budget ends before any GP-proposed trial (only baseline arms and
    ``initial_trials`` Sobol points) has no such model, so it is refused here."""
    search = config.search
    if search.pick_by == "model" and search.trials <= search.initial_trials:
        raise BomergeError(
            f"search.pick_by 'model' picks on the GP's posterior means, but search.trials "
            f"({search.trials}) does not exceed search.initial_trials ({search.initial_trials}): "
            "no trial would come from the GP (give more trials, or pick_by: observed)"
        )


def load_study_config(path: str | Path) -> StudyConfig:
    """Read a study config file, validate its structure and resolve its names."""
    return check_names(load_config(path), str(path))
