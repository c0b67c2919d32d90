"""Completing a trial: the scores reach the SQLite store before the COMPLETED status, so a
process killed in between leaves a RUNNING trial (re-run on resume), never a COMPLETED one
without scores."""

from __future__ import annotations

import pytest

from bomerge.search.client import stored_client
from bomerge.search.study.completion import complete_trial


def _client_with_one_trial(ax_sqlite: tuple[str, object]):
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig

    url, storage = ax_sqlite
    client = Client(storage_config=storage, random_seed=0)
    client.configure_experiment(
        parameters=[RangeParameterConfig(name="w", parameter_type="float", bounds=(0.0, 1.0))],
        name="c",
    )
    client.configure_optimization("-loss, metric")
    index = client.attach_trial({"w": 0.25})
    return client, url, index


def _stored(url: str, index: int) -> tuple[str, dict[str, float]]:
    client = stored_client("c", url, seed=0)
    data = client._experiment.lookup_data(trial_indices=[index]).df
    return (client._experiment.trials[index].status.name,
            {row.metric_name: float(row["mean"]) for _, row in data.iterrows()})


def test_a_completed_trial_is_stored_completed_with_its_scores(ax_sqlite):
    client, url, index = _client_with_one_trial(ax_sqlite)
    complete_trial(client, index, {"loss": 0.5, "metric": 0.75, "sst": 0.25})
    status, scores = _stored(url, index)
    assert status == "COMPLETED"
    assert scores == pytest.approx({"loss": 0.5, "metric": 0.75, "sst": 0.25})
    assert client._experiment.trials[index].status.is_completed


def test_dying_before_the_status_write_leaves_the_trial_running_with_its_scores(
        ax_sqlite, monkeypatch):
    client, url, index = _client_with_one_trial(ax_sqlite)

    class Killed(BaseException):
        pass

    def killed_here():
        raise Killed

    # complete_trial opens its own session only for the status write, its last step.
    import ax.storage.sqa_store.db as db
    monkeypatch.setattr(db, "session_scope", killed_here)
    with pytest.raises(Killed):
        complete_trial(client, index, {"loss": 0.5, "metric": 0.75})
    status, scores = _stored(url, index)
    assert status == "RUNNING"
    assert scores == pytest.approx({"loss": 0.5, "metric": 0.75})
