"""Completing trials: the scores reach the SQLite store before the COMPLETED status, so a
process killed in between leaves a RUNNING trial (re-run on resume), never a COMPLETED one
without scores."""

from __future__ import annotations

import pytest

from bomerge.search.client import stored_client
from bomerge.search.study.completion import complete_trial, record_outcomes


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

    def killed_here(*args):
        raise Killed

    # the process dies as the statuses are written, the last step
    from bomerge.search.study import completion
    monkeypatch.setattr(completion, "_save_statuses", killed_here)
    with pytest.raises(Killed):
        complete_trial(client, index, {"loss": 0.5, "metric": 0.75})
    status, scores = _stored(url, index)
    assert status == "RUNNING"
    assert scores == pytest.approx({"loss": 0.5, "metric": 0.75})


def _client_with_trials(ax_sqlite: tuple[str, object], n: int):
    client, url, first = _client_with_one_trial(ax_sqlite)
    return client, url, [first] + [client.attach_trial({"w": 0.1 * i}) for i in range(1, n)]


def test_several_trials_are_recorded_in_one_data_write_and_one_status_write(
        ax_sqlite, monkeypatch):
    """What a pipelined study does with the trials that finished while it generated."""
    client, url, (a, b, c) = _client_with_trials(ax_sqlite, 3)
    client.attach_data(c, {"loss": 0.9, "metric": 0.5}, progression=10)  # stopped after 10 rows
    import ax.storage.sqa_store.db as db

    opened = []
    real = db.session_scope

    def counted():
        opened.append(1)
        return real()

    monkeypatch.setattr(db, "session_scope", counted)
    record_outcomes(client, {a: {"loss": 0.5, "metric": 0.75}, b: {"loss": 0.25, "metric": 1.0}},
                    stopped=[c], progression=40)
    assert len(opened) == 2  # the data of a and b, then the three statuses
    monkeypatch.setattr(db, "session_scope", real)
    assert _stored(url, a) == ("COMPLETED", pytest.approx({"loss": 0.5, "metric": 0.75}))
    assert _stored(url, b) == ("COMPLETED", pytest.approx({"loss": 0.25, "metric": 1.0}))
    assert _stored(url, c) == ("EARLY_STOPPED", pytest.approx({"loss": 0.9, "metric": 0.5}))
    steps = stored_client("c", url, seed=0)._experiment.lookup_data(trial_indices=[a]).full_df
    assert set(steps["step"]) == {40}  # attached at the full evaluation's progression
    assert [client._experiment.trials[i].status.name for i in (a, b, c)] == [
        "COMPLETED", "COMPLETED", "EARLY_STOPPED"]


def test_recording_again_replaces_a_trials_stored_scores(ax_sqlite):
    """A trial re-run after a crash that left its scores stored but its status RUNNING."""
    client, url, (a,) = _client_with_trials(ax_sqlite, 1)
    client.attach_data(a, {"loss": 0.5, "metric": 0.75})
    record_outcomes(client, {a: {"loss": 0.5, "metric": 0.75}})
    stored = stored_client("c", url, seed=0)._experiment.lookup_data(trial_indices=[a]).df
    assert len(stored) == 2  # one row per metric, not two
    assert _stored(url, a) == ("COMPLETED", pytest.approx({"loss": 0.5, "metric": 0.75}))


def test_dying_before_the_status_write_leaves_every_trial_of_a_batch_running_with_its_scores(
        ax_sqlite, monkeypatch):
    client, url, trials = _client_with_trials(ax_sqlite, 3)
    from bomerge.search.study import completion

    def killed_here(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(completion, "_save_statuses", killed_here)
    with pytest.raises(KeyboardInterrupt):
        record_outcomes(client, {i: {"loss": 0.1 * i, "metric": 0.5} for i in trials})
    for i in trials:
        assert _stored(url, i) == ("RUNNING", pytest.approx({"loss": 0.1 * i, "metric": 0.5}))
