"""bomerge.search.pareto: non-dominated trials on (loss ↓, metric ↑), the pick rule, and the
dominated hypervolume the report plots."""

from __future__ import annotations

import pytest

from bomerge.search.pareto import (
    TrialRecord,
    hypervolume,
    pareto_set,
    pick_on_front,
    progress,
    reference_point,
)


def rec(index: int, loss: float | None, metric: float | None) -> TrialRecord:
    return TrialRecord(index, f"{index}_0", "Sobol", "COMPLETED", {}, loss, metric)


RECORDS = [rec(0, 0.50, 0.80), rec(1, 0.40, 0.78), rec(2, 0.45, 0.79), rec(3, 0.60, 0.80),
           rec(4, 0.41, 0.70), rec(5, None, None)]


def test_pareto_set_keeps_only_non_dominated_completed_trials():
    assert [r.index for r in pareto_set(RECORDS)] == [0, 1, 2]


def test_pick_best_metric_breaks_ties_by_loss():
    assert pick_on_front(RECORDS, "best_metric").index == 0


def test_pick_best_loss():
    assert pick_on_front(RECORDS, "best_loss").index == 1


def test_pick_within_a_loss_bound_takes_the_best_metric_there():
    # front: 0 (0.50, 0.80), 1 (0.40, 0.78), 2 (0.45, 0.79)
    assert pick_on_front(RECORDS, "loss_bound", loss_bound=0.46).index == 2
    assert pick_on_front(RECORDS, "loss_bound", loss_bound=0.41).index == 1
    # none that low: the lowest loss
    assert pick_on_front(RECORDS, "loss_bound", loss_bound=0.10).index == 1


def test_the_knee_is_the_front_point_farthest_beyond_the_chord_of_its_extremes():
    # Scaled to [0, 1]: ends (1, 0) and (0, 1); point 1 at (0.9, 0.9) bulges far towards the
    # ideal point, point 2 at (0.5, 0.5) lies on the chord.
    front = [rec(0, 0.10, 0.70), rec(1, 0.11, 0.79), rec(2, 0.15, 0.75), rec(3, 0.20, 0.80)]
    assert pick_on_front(front, "knee").index == 1
    # Points on the chord only: no knee, the best metric is taken.
    straight = [rec(0, 0.10, 0.70), rec(2, 0.15, 0.75), rec(3, 0.20, 0.80)]
    assert pick_on_front(straight, "knee").index == 3


def test_pareto_set_and_pick_over_per_task_objectives():
    def task_rec(index: int, sst: float, qqp: float) -> TrialRecord:
        return TrialRecord(index, f"{index}_0", "Sobol", "COMPLETED", {}, 1.0 - (sst + qqp) / 4,
                           (sst + qqp) / 2, {"sst": sst, "qqp": qqp})

    records = [task_rec(0, 0.5, 0.7), task_rec(1, 0.4, 0.8), task_rec(2, 0.4, 0.6),
               task_rec(3, 0.52, 0.71)]
    objectives = (("sst", True), ("qqp", True))
    assert [r.index for r in pareto_set(records, objectives)] == [1, 3]
    assert pick_on_front(records, "best_metric", objectives=objectives).index == 3


def test_hypervolume_is_the_area_dominated_above_the_reference():
    # (loss, metric) points; reference (1, 0): union of [loss, 1] × [0, metric] rectangles
    # = 0.8·0.4 + 0.5·0.1 + 0.4·0.1.
    records = [rec(0, 0.5, 0.5), rec(1, 0.2, 0.4), rec(2, 0.6, 0.6), rec(3, 0.9, 0.1)]
    assert hypervolume(records, (1.0, 0.0)) == pytest.approx(0.41)
    assert hypervolume(records, (0.1, 0.0)) == 0.0  # nothing beats the reference loss


def test_reference_point_is_the_nadir_unless_thresholds_are_set():
    records = [rec(0, 0.5, 0.5), rec(1, 0.2, 0.4), rec(2, 0.6, 0.6)]
    assert reference_point(records) == (0.6, 0.4)
    assert reference_point(records, loss_threshold=0.7, metric_threshold=0.3) == (0.7, 0.3)


def test_progress_never_decreases_and_tracks_the_best_metric():
    records = [rec(0, 0.5, 0.5), rec(1, 0.9, 0.1), rec(2, 0.2, 0.4), rec(3, 0.6, 0.6)]
    points = progress(records, (1.0, 0.0))
    assert [p.index for p in points] == [0, 1, 2, 3]
    volumes = [p.hypervolume for p in points]
    assert volumes == sorted(volumes) and volumes[-1] == pytest.approx(0.41)
    assert [p.best_metric for p in points] == [0.5, 0.5, 0.5, 0.6]
