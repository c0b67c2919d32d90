"""bomerge.search.pareto: non-dominated trials on (loss ↓, metric ↑), the pick rule, and the
dominated hypervolume the report plots."""

from __future__ import annotations

import pytest

from bomerge.search.pareto import TrialRecord, hypervolume, pareto_set, pick, progress, reference_point


def rec(index: int, loss: float | None, metric: float | None) -> TrialRecord:
    return TrialRecord(index, f"{index}_0", "Sobol", "COMPLETED", {}, loss, metric)


RECORDS = [rec(0, 0.50, 0.80), rec(1, 0.40, 0.78), rec(2, 0.45, 0.79), rec(3, 0.60, 0.80),
           rec(4, 0.41, 0.70), rec(5, None, None)]


def test_pareto_set_keeps_only_non_dominated_completed_trials():
    assert [r.index for r in pareto_set(RECORDS)] == [0, 1, 2]


def test_pick_best_metric_breaks_ties_by_loss():
    assert pick(RECORDS, "best_metric").index == 0


def test_pick_best_loss():
    assert pick(RECORDS, "best_loss").index == 1


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
