"""bomerge.search.pareto: non-dominated trials on (loss ↓, metric ↑) and the pick rule."""

from __future__ import annotations

from bomerge.search.pareto import TrialRecord, pareto_set, pick


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
