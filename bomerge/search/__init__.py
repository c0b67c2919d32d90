"""The search: a study's loop, its judgement of trials and its files on disk.

Rooms (docs/architecture.md draws them):

* ``study/``: the on-disk study (``store``, ``database`` and ``ax_tables`` for its SQLite
  file, ``lock``, ``completion`` and ``recovery`` for crash safety, ``check``, ``remedies``).
  It imports nothing else of the search but `ax_logging`.
* ``stopping/``: early stopping (``judge``: a trial's chunks judged by a rule;
  ``dominance``: the dominance rule).
* the loop: ``runner`` (a study from start to finish), ``trial`` (one point merged and
  scored), ``recording`` (finished trials recorded, together), ``workbench`` (candidates,
  evaluators and prepared methods kept resident), ``space`` (method variables ↔ Ax
  parameters), ``client`` (the Ax experiment), ``executors/`` and ``strategies/``
  (registries), ``batching`` and ``batch_generation``, ``preflight``,
  ``consecutive_failures``, ``bilevel``, ``ray_cluster``; ``commands`` and
  ``config_names`` for the CLI.
* judgement: ``pareto`` (the front and the pick rules), ``picks`` (a study's two picks and
  result), ``claims`` (paired bootstrap intervals).
* baselines: ``baselines`` (fixed recipes through the study's evaluator).
* reading a stored study: ``records`` (trials and baselines as records) and ``rebuild`` (a
  recorded merge formed again); reports, exports and scoring read studies through these and
  ``study/``, never through the runner or the executors (an import-linter contract).

The names below are the entry points of each room, importable from here; importing this
package imports none of them (nor Ax, nor torch) until one is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

_ROOMS = {
    # the on-disk study
    "StudyStore": "study.store", "resolve_studies_dir": "study.store",
    "StudyLock": "study.lock", "open_study": "study.check", "full_findings": "study.check",
    "interrupted_trials": "study.recovery", "complete_trial": "study.completion",
    "record_outcomes": "study.completion",
    # early stopping
    "ChunkJudge": "stopping.judge", "stopping_strategy": "stopping.judge",
    "DominanceEarlyStoppingStrategy": "stopping.dominance",
    # the loop
    "StudyRunner": "runner", "evaluate_point": "trial", "TrialRecorder": "recording",
    "Workbench": "workbench",
    "SearchSpace": "space", "study_space": "space", "open_client": "client",
    "executor_for": "executors", "get_strategy": "strategies",
    "preflight_study": "preflight", "BilevelRunner": "bilevel",
    "load_study_config": "config_names", "created_study": "commands",
    # judgement
    "TrialRecord": "pareto", "pareto_set": "pareto", "pick_on_front": "pareto",
    "study_picks": "picks", "study_result": "picks", "paired_interval": "claims",
    # baselines
    "BaselineRunner": "baselines", "default_baselines": "baselines",
    # reading a stored study
    "load_records": "records", "baseline_records": "records", "trial_merge": "rebuild",
}

__all__ = sorted(_ROOMS)


def __getattr__(name: str) -> Any:
    if name not in _ROOMS:
        raise AttributeError(f"module 'bomerge.search' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_ROOMS[name]}"), name)
