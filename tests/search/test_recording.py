"""Recording finished trials: each trial's status and scores in Ax's store, a log line and
a console line each, in the order given, with trials that finished together written
together."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from bomerge.search.client import stored_client
from bomerge.search.pareto import TrialRecord
from bomerge.search.recording import Finished, TrialRecorder
from bomerge.search.study.store import StudyStore
from bomerge.search.trial import TrialOutcome
from bomerge.tasks.base import EvalResult


def _recorder(ax_sqlite, tmp_path: Path, trials: int) -> tuple[TrialRecorder, str, list[int]]:
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig

    url, storage = ax_sqlite
    client = Client(storage_config=storage, random_seed=0)
    client.configure_experiment(
        parameters=[RangeParameterConfig(name="w", parameter_type="float", bounds=(0.0, 1.0))],
        name="c")
    client.configure_optimization("-loss, metric")
    indices = [client.attach_trial({"w": 0.25 * i}) for i in range(trials)]
    store = StudyStore(tmp_path / "study")
    store.directory.mkdir()

    def record(index: int) -> TrialRecord:
        trial = client._experiment.trials[index]
        return TrialRecord(index, trial.arm.name, "Sobol", trial.status.name,
                           {"w": trial.arm.parameters["w"]})

    return TrialRecorder(client, store, "accuracy", 40, 40, record), url, indices


def _scored(loss: float, metric: float, rows: int = 40, stopped: bool = False) -> TrialOutcome:
    return TrialOutcome(EvalResult(loss, metric, {"f1": metric}, rows), None, 0.5, 1.5,
                        100.0, 102.0, stopped)


def test_finished_trials_are_completed_failed_or_stopped_in_ax_and_logged_in_order(
        ax_sqlite, tmp_path):
    recorder, url, (a, b, c) = _recorder(ax_sqlite, tmp_path, 3)
    recorder.client.attach_data(c, {"loss": 0.9, "metric": 0.5}, progression=10)
    console = Console(file=io.StringIO(), width=200)
    reasons = recorder([
        Finished(a, _scored(0.5, 0.75), {"gen_s": 0.25}),
        Finished(b, TrialOutcome(None, "non-finite loss nan", 0.5, 1.5, 100.0, 102.0)),
        Finished(c, _scored(0.9, 0.5, rows=10, stopped=True)),
    ], console)
    assert reasons == [None, "non-finite loss nan", None]

    stored = stored_client("c", url, seed=0)._experiment
    assert [stored.trials[i].status.name for i in (a, b, c)] == [
        "COMPLETED", "FAILED", "EARLY_STOPPED"]
    assert stored.trials[b].status_reason == "non-finite loss nan"
    data = stored.lookup_data(trial_indices=[a]).df
    assert dict(zip(data.metric_name, data["mean"], strict=True)) == pytest.approx(
        {"loss": 0.5, "metric": 0.75, "f1": 0.75})

    log = recorder.store.read_log()
    assert [line["trial"] for line in log] == [a, b, c]
    assert [line["status"] for line in log] == ["COMPLETED", "FAILED", "EARLY_STOPPED"]
    assert log[0]["gen_s"] == 0.25 and log[0]["rows"] == 40 and log[2]["rows"] == 10
    assert log[0]["merge_s"] == 0.5 and log[0]["eval_s"] == 1.5
    assert (log[0]["t_start"], log[0]["t_end"]) == (100.0, 102.0)
    assert log[1]["reason"] == "non-finite loss nan" and "book_s" not in log[1]
    assert log[0]["book_s"] == log[2]["book_s"] >= 0  # one write's seconds, shared

    shown = console.file.getvalue().splitlines()
    assert len(shown) == 3
    assert "loss 0.5000" in shown[0] and "accuracy 0.7500" in shown[0] and "w=0" in shown[0]
    assert "FAILED non-finite loss nan" in shown[1]
    assert "stopped after 10/40 rows" in shown[2]


def test_a_long_failure_reason_is_cut_for_ax_and_kept_whole_in_the_log(ax_sqlite, tmp_path):
    recorder, url, (a,) = _recorder(ax_sqlite, tmp_path, 1)
    reason = "RuntimeError: " + "x" * 2000
    recorder([Finished(a, TrialOutcome(None, reason, 0.0, 0.0))], Console(file=io.StringIO()))
    assert len(stored_client("c", url, seed=0)._experiment.trials[a].status_reason) == 1000
    assert recorder.store.read_log()[0]["reason"] == reason
