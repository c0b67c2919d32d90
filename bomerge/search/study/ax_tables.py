"""A study's trials read straight from Ax's SQLite tables, without importing Ax.

Reading commands (``study pareto``, ``report``, ``list``) need each trial's arm, parameters,
status, generation node and scores, nothing else of the experiment; importing Ax and
decoding the whole experiment costs seconds, this a few milliseconds. It reads the tables of
the Ax release pinned in pyproject.toml (``ax-platform`` 1.3), as Ax's own decoder would
(``tests/search/study/test_ax_tables.py`` holds the two to the same answer), and gives None for a
schema it does not know, so the caller reads through Ax instead.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: ``ax.core.base_trial.TrialStatus`` by its stored value.
TRIAL_STATUS = {0: "CANDIDATE", 1: "STAGED", 2: "FAILED", 3: "COMPLETED", 4: "RUNNING",
                5: "ABANDONED", 6: "DISPATCHED", 7: "EARLY_STOPPED", 8: "STALE"}

_COLUMNS = {
    "experiment_v2": {"id", "name"},
    "trial_v2": {"id", "index", "status", "experiment_id"},
    "generator_run_v2": {"id", "trial_id", "generation_node_name"},
    "arm_v2": {"generator_run_id", "id", "name", "parameters"},
    "data_v2": {"id", "experiment_id", "trial_index", "time_created", "data_json"},
}


@dataclass(frozen=True)
class StoredTrial:
    """One single-arm trial as stored: what a ``TrialRecord`` is made from."""

    index: int
    arm: str | None
    parameters: dict[str, Any]
    node: str | None
    status: str
    values: dict[str, float] = field(default_factory=dict)


def trials_of_experiment(experiment: Any) -> list[StoredTrial]:
    """The same records from an Ax ``Experiment`` already in memory."""
    return [trial_of_experiment(experiment, index) for index in sorted(experiment.trials)]


def trial_of_experiment(experiment: Any, index: int) -> StoredTrial:
    """Trial ``index`` of an Ax ``Experiment`` in memory."""
    trial = experiment.trials[index]
    runs = trial.generator_runs
    data = experiment.lookup_data(trial_indices=[index]).df
    step = "step" in data.columns
    return StoredTrial(
        index=index,
        arm=trial.arm.name if trial.arm is not None else None,
        parameters=dict(trial.arm.parameters) if trial.arm is not None else {},
        node=runs[0]._generation_node_name if runs else None,
        status=trial.status.name,
        values=last_progression({(row.metric_name, row["step"] if step else None):
                                 float(row["mean"]) for _, row in data.iterrows()}),
    )


def read_trials(connection: sqlite3.Connection, name: str) -> list[StoredTrial] | None:
    """Experiment ``name``'s trials by index ([] when the database has no such experiment),
    or None when the tables are not the ones this reader knows."""
    if not _known_schema(connection):
        return None
    row = connection.execute("SELECT id FROM experiment_v2 WHERE name = ?", (name,)).fetchone()
    if row is None:
        return []
    experiment = row[0]
    trials = connection.execute(
        'SELECT id, "index", status FROM trial_v2 WHERE experiment_id = ? ORDER BY "index"',
        (experiment,)).fetchall()
    arms = _first_arms(connection, [trial_id for trial_id, _, _ in trials])
    values = _values(connection.execute(
        "SELECT trial_index, time_created, data_json FROM data_v2 WHERE experiment_id = ? "
        "ORDER BY id", (experiment,)))
    out = []
    for trial_id, index, status in trials:
        node, arm, parameters = arms.get(trial_id, (None, None, {}))
        out.append(StoredTrial(index, arm, parameters, node, TRIAL_STATUS[status],
                               values.get(index, {})))
    return out


def read_sqlite_trials(uri: str, name: str) -> list[StoredTrial] | None:
    """``read_trials`` on the SQLite file at ``uri`` (a ``file:`` URI)."""
    connection = sqlite3.connect(uri, uri=True)
    try:
        return read_trials(connection, name)
    finally:
        connection.close()


def _known_schema(connection: sqlite3.Connection) -> bool:
    for table, needed in _COLUMNS.items():
        columns = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
        if not needed <= columns:
            return False
    return True


def _first_arms(connection: sqlite3.Connection,
                trial_ids: list[int]) -> dict[int, tuple[str | None, str, dict[str, Any]]]:
    """(generation node, arm name, parameters) of each trial's first generator run."""
    arms: dict[int, tuple[str | None, str, dict[str, Any]]] = {}
    rows = connection.execute(
        "SELECT g.trial_id, g.generation_node_name, a.name, a.parameters "
        "FROM generator_run_v2 g JOIN arm_v2 a ON a.generator_run_id = g.id "
        "WHERE g.trial_id IS NOT NULL ORDER BY g.id, a.id")
    wanted = set(trial_ids)
    for trial_id, node, arm, parameters in rows:
        if trial_id in wanted and trial_id not in arms:
            arms[trial_id] = (node, arm, json.loads(parameters))
    return arms


def _values(rows: Iterable[tuple[int | None, int, str]]) -> dict[int, dict[str, float]]:
    """Each trial's score per metric at its last progression. Ax keeps one data row per
    (trial, time created), the last written winning, and combines a trial's rows in time
    order, a newer score of a metric at the same step replacing the older."""
    by_time: dict[int, dict[int, str]] = {}
    for trial, created, data in rows:
        if trial is not None:
            by_time.setdefault(trial, {})[created] = data
    values: dict[int, dict[str, float]] = {}
    for trial, datas in by_time.items():
        scores: dict[tuple[str, float | None], float] = {}
        for _, data in sorted(datas.items()):
            frame = json.loads(data)
            names, means = frame.get("metric_name", {}), frame.get("mean", {})
            steps = frame.get("step", {})
            for row in names:
                mean = means.get(row)  # pandas writes NaN as null
                scores[names[row], steps.get(row)] = float("nan") if mean is None else float(mean)
        values[trial] = last_progression(scores)
    return values


def last_progression(scores: dict[tuple[str, float | None], float]) -> dict[str, float]:
    """Score per metric at its highest step (a score without a step comes first), by
    metric name as Ax orders them."""
    best: dict[str, tuple[float, float]] = {}
    for (metric, step), value in scores.items():
        at = float("-inf") if step is None or step != step else float(step)
        if metric not in best or at >= best[metric][0]:
            best[metric] = (at, value)
    return {metric: value for metric, (_, value) in sorted(best.items())}
