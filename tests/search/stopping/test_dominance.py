"""The dominance early-stopping rule (``search.early_stopping.rule: dominance``): a trial is
stopped when its running scores, moved one standard error in their better direction, are
still dominated by the finished trials' front at the same rows; the standard error comes
from how far the finished trials' running scores were from their final ones."""

from __future__ import annotations

import numpy as np
from ax.api.client import Client
from ax.api.configs import RangeParameterConfig
from ax.core.base_trial import TrialStatus

from bomerge.search.pareto import LOSS_METRIC
from bomerge.search.stopping.dominance import DominanceEarlyStoppingStrategy, dominated_beyond_error

MAXIMISE = np.array([False, True])  # (loss, metric)


def test_a_point_dominated_by_more_than_its_error_is_caught():
    front = np.array([[0.50, 0.80], [0.30, 0.70]])
    assert dominated_beyond_error(np.array([0.70, 0.60]), front, np.array([0.1, 0.1]),
                                  MAXIMISE) == 0


def test_an_error_that_reaches_the_front_in_one_objective_saves_the_point():
    front = np.array([[0.50, 0.80]])
    # loss 0.70 - 0.25 = 0.45 beats the front's 0.50: not dominated once the error is allowed
    assert dominated_beyond_error(np.array([0.70, 0.60]), front, np.array([0.25, 0.1]),
                                  MAXIMISE) is None


def test_equal_to_the_front_after_the_error_is_not_dominated():
    front = np.array([[0.60, 0.70]])
    assert dominated_beyond_error(np.array([0.70, 0.60]), front, np.array([0.1, 0.1]),
                                  MAXIMISE) is None


ROWS = (25, 50, 100)


def experiment_with(curves: dict[int, dict[int, tuple[float, float]]],
                    finished: set[int]) -> Client:
    """An Ax experiment whose trial ``i`` has running (loss, metric) ``curves[i][rows]``;
    the trials in ``finished`` are completed at the last progression."""
    client = Client()
    client.configure_experiment(parameters=[RangeParameterConfig(name="x", parameter_type="float",
                                                                 bounds=(0.0, 1.0))])
    client.configure_optimization(objective="-loss, metric")
    for index, curve in curves.items():
        assert client.attach_trial({"x": index / 10}) == index
        for rows, (loss, metric) in sorted(curve.items()):
            scores = {"loss": loss, "metric": metric}
            if index in finished and rows == ROWS[-1]:
                client.complete_trial(index, scores, progression=rows)
            else:
                client.attach_data(index, scores, progression=rows)
    return client


def finished_curves(shift: float = 0.0) -> dict[int, dict[int, tuple[float, float]]]:
    """Three finished trials whose running scores at 50 rows are within 0.01 of their final
    ones apart from a change they all share."""
    return {
        i: {25: (0.5 + 0.1 * i, 0.8 - 0.05 * i), 50: (0.5 + 0.1 * i + e, 0.8 - 0.05 * i - e),
            100: (0.45 + 0.1 * i + shift, 0.82 - 0.05 * i)}
        for i, e in zip(range(3), (0.0, 0.01, -0.01), strict=False)
    }


def decisions(client: Client, min_progression: int = 25) -> dict[int, str | None]:
    strategy = DominanceEarlyStoppingStrategy(LOSS_METRIC, min_progression=min_progression)
    experiment = client._experiment
    running = set(experiment.trials) - experiment.trial_indices_by_status[TrialStatus.COMPLETED]
    return strategy.should_stop_trials_early(running, experiment)


def test_a_running_trial_far_behind_the_front_is_stopped_and_told_why():
    curves = finished_curves()
    curves[3] = {25: (0.9, 0.55), 50: (0.95, 0.55)}  # far worse than trial 0 on both
    stopped = decisions(experiment_with(curves, finished={0, 1, 2}))
    assert set(stopped) == {3}
    assert "after 50 rows" in stopped[3] and "trial 0" in stopped[3]


def test_a_running_trial_on_the_front_is_not_stopped():
    curves = finished_curves()
    curves[3] = {25: (0.45, 0.70), 50: (0.45, 0.70)}  # lowest loss of all at 50 rows
    assert decisions(experiment_with(curves, finished={0, 1, 2})) == {}


def test_a_trial_behind_by_less_than_the_error_is_not_stopped():
    curves = finished_curves()
    # trial 3 at 50 rows: 0.005 worse than trial 0 on both, the finished trials' running
    # scores strayed 0.01 from their final ones
    curves[3] = {50: (0.505, 0.795)}
    assert decisions(experiment_with(curves, finished={0, 1, 2})) == {}


def test_nothing_is_stopped_before_min_progression_or_with_fewer_than_three_finished_trials():
    curves = finished_curves()
    curves[3] = {25: (0.95, 0.5)}
    assert decisions(experiment_with(curves, finished={0, 1, 2}), min_progression=50) == {}
    curves = {i: c for i, c in finished_curves().items() if i < 2}
    curves[2] = {50: (0.95, 0.5)}
    assert decisions(experiment_with(curves, finished={0, 1})) == {}
