"""bomerge.search.study.ax_tables: a study's trials read from Ax's SQLite tables without Ax.
That reading equals Ax's own decoding on real studies is asserted where those studies are
made (a plain study with failed trials, early stopping's progressions, a method choice:
``tests.helpers.assert_tables_read_as_ax_decodes``); this file holds the reader's rules."""

from __future__ import annotations

import json
import sqlite3

from ax.core.base_trial import TrialStatus

from bomerge.search.study.ax_tables import TRIAL_STATUS, _values, last_progression, read_trials


def test_trial_statuses_are_axs_own():
    assert TRIAL_STATUS == {status.value: status.name for status in TrialStatus}


def data(metric_means: dict[str, float | None], step: float | None = None) -> str:
    """One stored data row, as pandas writes Ax's data frame."""
    names = list(metric_means)
    return json.dumps({
        "metric_name": {str(i): n for i, n in enumerate(names)},
        "mean": {str(i): metric_means[n] for i, n in enumerate(names)},
        "step": {str(i): step for i in range(len(names))},
    })


def test_a_trials_newest_data_row_wins_and_a_later_progression_beats_an_earlier_one():
    rows = [
        (0, 5, data({"loss": 0.9, "metric": 0.1})),          # superseded: same time, later id
        (0, 5, data({"loss": 0.5, "metric": 0.6})),
        (0, 9, data({"metric": 0.7})),                        # newer: replaces the metric only
        (1, 1, data({"loss": 0.4, "metric": 0.8}, step=60)),  # final scores at 60 rows
        (1, 0, data({"loss": 0.2, "metric": 0.9}, step=20)),  # an earlier chunk, written first
        (2, 0, data({"loss": None})),                         # pandas' NaN
        (None, 0, data({"loss": 1.0})),                       # not a trial's row
    ]
    values = _values(rows)
    assert values[0] == {"loss": 0.5, "metric": 0.7}
    assert values[1] == {"loss": 0.4, "metric": 0.8}
    assert set(values) == {0, 1, 2} and values[2]["loss"] != values[2]["loss"]


def test_a_score_without_a_step_counts_before_any_step():
    assert last_progression({("metric", None): 0.1, ("metric", 3.0): 0.2}) == {"metric": 0.2}


def test_an_unknown_schema_gives_none_so_the_caller_reads_through_ax(tmp_path):
    connection = sqlite3.connect(tmp_path / "other.sqlite")
    connection.execute("CREATE TABLE trial_v3 (id INTEGER)")
    assert read_trials(connection, "s") is None
    connection.close()
