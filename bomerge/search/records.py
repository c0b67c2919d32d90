"""Reading a study: its trials and baselines as ``TrialRecord``s, its objectives and pick.

Everything here works from the study's store alone (no candidates, no evaluator), so
reports, exports and tables read studies through this module, never through the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bomerge.config import StudyConfig
from bomerge.merge.base import MergeMethod
from bomerge.search.baselines import INDIVIDUAL
from bomerge.search.pareto import LOSS_METRIC, Objective, TrialRecord, pick_on_front
from bomerge.search.space import SearchSpace, study_method, study_space
from bomerge.search.study.ax_tables import StoredTrial
from bomerge.search.study.store import StudyStore
from bomerge.tasks import get_task


@dataclass
class StudyOutcome:
    """What a finished run of a study gives: every trial, the pick, the stored result and
    the baselines that are not arms of the study's experiment."""

    records: list[TrialRecord]
    pick: TrialRecord
    report: dict[str, Any]
    complete: bool
    baselines: list[TrialRecord]


def metric_columns(config: StudyConfig) -> list[str]:
    """The per-head metrics a study of ``config`` records beside its average: every head's
    metric for a task with several heads, none otherwise. The one place tables, reports
    and per-task objectives ask the task for them."""
    return list(get_task(config.task).head_metrics)


def study_objectives(config: StudyConfig) -> tuple[Objective, ...]:
    """(name, maximise) of the study's objectives: loss and metric, or with
    ``search.objectives: per_task`` every sub-task's metric."""
    if config.search.objectives == "per_task":
        return tuple((name, True) for name in metric_columns(config))
    return LOSS_METRIC


def above_floors(record: TrialRecord, floors: dict[str, float]) -> bool:
    """Whether every task's normalised score is at least its floor (``search.floors``)."""
    return all((record.extra.get(f"{task}_normalised") or float("-inf")) >= floor
               for task, floor in floors.items())


def pickable(records: list[TrialRecord], store: StudyStore,
             config: StudyConfig) -> list[TrialRecord]:
    """What the study's pick is chosen among: its trials and, with ``search.pick_from: all``
    (the default), every recorded baseline that is not one of them (another method's
    recipe, ``bomerge baseline``'s suite) but ``individual``, which is not one merge."""
    if config.search.pick_from == "trials":
        return records
    return records + [b for b in baseline_records(store) if b.method != INDIVIDUAL]


def study_pick(records: list[TrialRecord], config: StudyConfig) -> TrialRecord:
    """The study's pick: its rule applied to the Pareto set of its objectives, among the
    points above the floors when any is."""
    floors = config.search.floors
    feasible = [r for r in records if above_floors(r, floors)] if floors else records
    return pick_on_front(feasible or records, config.search.pick, config.search.pick_loss_bound,
                study_objectives(config))


def pick_rule_text(config: StudyConfig) -> str:
    rule = config.search.pick
    return f"{rule} (loss ≤ {config.search.pick_loss_bound})" if rule == "loss_bound" else rule


def trial_record(trial: StoredTrial, space: SearchSpace,
                 method: MergeMethod | None = None) -> TrialRecord:
    """A stored trial as a ``TrialRecord``; with the study's ``method``, the record names
    the method that merged the trial (the chosen one when the method is a search variable)
    and that method's own coefficients."""
    point = space.decode(dict(trial.parameters))
    name, own = method.describe(point) if method is not None else ("", point)
    coefficients = {
        k: (v.round(6).tolist() if isinstance(v, np.ndarray) else round(float(v), 6))
        for k, v in own.items()
    }
    values = dict(trial.values)
    return TrialRecord(
        index=trial.index,
        arm=trial.arm or "",
        node=trial.node or "baseline",
        status=trial.status,
        coefficients=coefficients,
        loss=values.pop("loss", None),
        metric=values.pop("metric", None),
        extra=values,
        method=name,
    )


def load_records(store: StudyStore) -> list[TrialRecord]:
    """The trials of a stored study, read-only and without loading its candidates."""
    config, meta = store.read_config(), store.read_meta()
    trials = store.read_trials()
    if not trials:
        return []
    method = study_method(config, Path(meta.candidates[0]))
    space = study_space(config, method, len(meta.candidates))
    return [trial_record(trial, space, method) for trial in trials]


def baseline_records(store: StudyStore) -> list[TrialRecord]:
    """Recorded baselines that are not arms of the study's Ax experiment (other methods),
    as records without a trial index."""
    return [
        TrialRecord(
            index=None, arm=label, node="baseline", status="COMPLETED",
            coefficients=b["coefficients"], loss=b["selection"]["loss"],
            metric=b["selection"]["metric"],
            extra={k: v for k, v in b["selection"].items() if k not in ("loss", "metric")},
            method=b["method"], note=b.get("note", ""),
        )
        for label, b in store.read_baselines().items()
        if b["trial"] is None
    ]


def log_entry(record: TrialRecord) -> dict[str, Any]:
    """A trial's line in ``trials.jsonl`` (the runner adds its timings)."""
    return {
        "trial": record.index, "arm": record.arm, "node": record.node, "status": record.status,
        "coefficients": record.coefficients, "loss": record.loss, "metric": record.metric,
        **record.extra,
    }


def format_coefficients(coefficients: dict[str, list[float] | float]) -> str:
    """A trial's coefficients on its console line (two decimals per weight)."""
    parts = []
    for name, value in coefficients.items():
        if isinstance(value, list):
            parts.append(f"{name}=[" + " ".join(f"{v:.2f}" for v in value) + "]")
        else:
            parts.append(f"{name}={value:.3g}")
    return " ".join(parts)
