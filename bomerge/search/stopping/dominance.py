"""An early-stopping rule on every objective at once: stop a trial whose running scores,
made better by one standard error, are still dominated by the front at the same rows.

At progression ``r`` (selection rows scored, in the study's fixed order) every trial that
finished has a running point ``y_i(r)`` (one value per objective) and a final point
``y_i(N)``. The standard error of a running score as an estimate of the full-row score is
taken from those finished trials, per objective:

    se_j(r) = std_i( y_ij(N) - y_ij(r) )          (ddof = 1, over finished trials i)

so the part of the change that every merge shares (the rows still unseen are harder or
easier for all of them) drops out, and what is left is how far one trial's running score
strays on its own. A trial at ``r`` is stopped when its optimistic point — each objective
moved one ``se_j(r)`` in its better direction — is weakly dominated, strictly in one
objective, by a point of the Pareto front of the finished trials' running scores at ``r``.
It is the multi-objective reading of "Cheaper trials" in docs/performance.md; Ax's
percentile rule (``PercentileEarlyStoppingStrategy``) looks at the metric alone.

Shapes: the running points of the finished trials at ``r`` are ``(F, M)`` for ``F``
finished trials and ``M`` objectives; ``se(r)`` is ``(M,)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ax.core.base_trial import TrialStatus
from ax.core.map_data import MAP_KEY
from ax.early_stopping.strategies.base import BaseEarlyStoppingStrategy

from bomerge.search.pareto import Objective

__all__ = ["DominanceEarlyStoppingStrategy", "dominated_beyond_error"]


def dominated_beyond_error(point: np.ndarray, front: np.ndarray, se: np.ndarray,
                           maximise: np.ndarray) -> int | None:
    """The row of ``front`` ``(F, M)`` that dominates ``point`` ``(M,)`` moved ``se``
    ``(M,)`` in every objective's better direction (``maximise`` ``(M,)`` bool), or None."""
    sign = np.where(maximise, 1.0, -1.0)
    optimistic = sign * point + se
    oriented = sign * front
    dominating = np.all(oriented >= optimistic, axis=1) & np.any(oriented > optimistic, axis=1)
    hits = np.flatnonzero(dominating)
    return int(hits[0]) if hits.size else None


class DominanceEarlyStoppingStrategy(BaseEarlyStoppingStrategy):
    """Ax early-stopping strategy: stop a trial dominated beyond its standard error by the
    finished trials' front at the same progression (module docstring).

    Args:
        objectives: ``(name, maximise)`` of the study's objectives, as Ax's data names them.
        min_progression: rows a trial is scored on before it may be stopped.
        min_curves: finished trials with running scores needed before any trial is stopped
            (at least 3: the standard error needs them).
    """

    def __init__(self, objectives: tuple[Objective, ...], min_progression: float,
                 min_curves: int = 3) -> None:
        super().__init__(metric_signatures=[name for name, _ in objectives],
                         min_progression=min_progression, min_curves=max(3, min_curves))
        self.objectives = objectives

    def _should_stop_trials_early(self, trial_indices: set[int], experiment: Any,
                                  current_node: Any = None) -> dict[int, str | None]:
        names = [name for name, _ in self.objectives]
        maximise = np.array([up for _, up in self.objectives])
        curves = self._curves(experiment, names)
        if curves is None:
            return {}
        finished = experiment.trial_indices_by_status[TrialStatus.COMPLETED]
        last = max(step for _, step in curves.index)
        decisions: dict[int, str | None] = {}
        for index in trial_indices:
            steps = [step for trial, step in curves.index if trial == index]
            if not steps:
                continue
            rows = max(steps)
            if rows < (self.min_progression or 0) or rows >= last:
                continue
            others = [i for i in finished if i != index
                      and (i, rows) in curves.index and (i, last) in curves.index]
            if len(others) < (self.min_curves or 3):
                continue
            running = curves.loc[[(i, rows) for i in others]].to_numpy()
            final = curves.loc[[(i, last) for i in others]].to_numpy()
            se = np.std(final - running, axis=0, ddof=1)
            point = curves.loc[(index, rows)].to_numpy()
            hit = dominated_beyond_error(point, running, se, maximise)
            if hit is not None:
                decisions[index] = (f"dominated after {rows:g} rows by trial {others[hit]} "
                                    f"beyond one standard error")
        return decisions

    @staticmethod
    def _curves(experiment: Any, names: list[str]) -> Any:
        """Running scores, one row per (trial, rows seen), one column per objective;
        None while some objective has no progression data."""
        data = experiment.lookup_data()
        if data.df.empty or not data.has_step_column:
            return None
        frame = data.full_df
        frame = frame[frame["metric_signature"].isin(names)].dropna(subset=[MAP_KEY, "mean"])
        if set(frame["metric_signature"]) != set(names):
            return None
        wide = frame.pivot_table(index=["trial_index", MAP_KEY], columns="metric_signature",
                                 values="mean", aggfunc="last")
        return wide[names].dropna()

    def _is_harmful(self, trial_indices: set[int], experiment: Any) -> bool:
        # Ax's optional safety check (check_safe) is off for this rule.
        return False
