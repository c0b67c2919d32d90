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
from bomerge.merge import build_method
from bomerge.search.baselines import check_baseline_names
from bomerge.search.strategies import get_strategy
from bomerge.tasks import get_task


def check_names(config: StudyConfig, source: str) -> StudyConfig:
    """Refuse a config whose task, method, options, baselines or strategy are unknown, or
    whose settings its task cannot honour; the message starts with ``source``."""
    try:
        get_task(config.task).check_config(config)
        build_method(config.merge.method, config.merge.options)
        if config.baselines is not None:
            check_baseline_names(config.baselines)
        get_strategy(config.search.strategy)
        if config.outer is not None:
            get_strategy(config.outer.strategy)
    except BomergeError as error:
        raise BomergeError(f"{source}: {error}") from None
    return config


def load_study_config(path: str | Path) -> StudyConfig:
    """Read a study config file, validate its structure and resolve its names."""
    return check_names(load_config(path), str(path))
