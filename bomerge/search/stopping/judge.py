"""Early stopping: a trial's running scores go to Ax after each chunk of its selection rows,
and Ax's early-stopping strategy says whether the trial is worth finishing.

The progression is the number of selection rows scored so far (``bomerge.progression``:
the study's fixed, stratified order, so every trial's running scores after ``r`` rows are
over the same rows). ``search.early_stopping.rule`` chooses the strategy; either waits for
``min_progression`` of the rows. ``percentile`` is Ax's percentile rule on the study's
metric: a trial whose running metric is below the ``percentile``-th of the other trials' at
the same progression is stopped (``PercentileEarlyStoppingStrategy``). ``dominance`` stops a
trial whose running scores on every objective are dominated by the finished trials' front
at the same progression beyond one standard error (``bomerge.search.stopping.dominance``). Both are
"Cheaper trials" in docs/performance.md. A stopped
trial is EARLY_STOPPED with its partial scores: Ax's surrogate sees them with the
progression as a feature, the pick never does. Baseline arms and ``search.points`` are
never stopped; their running scores are attached all the same, as reference curves.

Only the study process calls this (it alone talks to Ax): executors that score trials
elsewhere hand each chunk's scores back and wait for the answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bomerge.config import EarlyStoppingConfig
from bomerge.search.pareto import Objective
from bomerge.search.trial import ChunkDecision, non_finite_reason, scores_of
from bomerge.tasks.base import EvalResult

__all__ = ["RULES", "ChunkJudge", "stopping_strategy"]


def percentile_rule(settings: EarlyStoppingConfig, rows: int,
                    objectives: tuple[Objective, ...]) -> Any:
    """Ax's percentile early-stopping strategy on the metric, with ``min_progression`` in
    rows of the study's ``rows`` selection rows."""
    from ax.early_stopping.strategies import PercentileEarlyStoppingStrategy

    return PercentileEarlyStoppingStrategy(
        metric_signatures=["metric"], percentile_threshold=settings.percentile,
        min_progression=math.ceil(settings.min_progression * rows),
        normalize_progressions=False,
    )


def dominance_rule(settings: EarlyStoppingConfig, rows: int,
                   objectives: tuple[Objective, ...]) -> Any:
    """Stop a trial dominated beyond one standard error by the finished trials' front at
    the same rows, on every objective of the study (``bomerge.search.stopping.dominance``)."""
    from bomerge.search.stopping.dominance import DominanceEarlyStoppingStrategy

    return DominanceEarlyStoppingStrategy(
        objectives, min_progression=math.ceil(settings.min_progression * rows))


#: ``search.early_stopping.rule`` -> the Ax early-stopping strategy it builds
RULES: dict[str, Callable[[EarlyStoppingConfig, int, tuple[Objective, ...]], Any]] = {
    "percentile": percentile_rule,
    "dominance": dominance_rule,
}


def stopping_strategy(settings: EarlyStoppingConfig, rows: int,
                      objectives: tuple[Objective, ...]) -> Any:
    """The Ax early-stopping strategy of ``settings.rule`` for a study of ``rows`` selection
    rows and these ``(name, maximise)`` objectives."""
    return RULES[settings.rule](settings, rows, objectives)


class ChunkJudge:
    """After each chunk of a trial: attach its running scores at progression = rows seen,
    and (for a trial that may be stopped) ask Ax's early-stopping strategy."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def for_trial(self, index: int, stoppable: bool) -> ChunkDecision:
        """The decision function of trial ``index`` (main thread only)."""

        def decide(result: EvalResult) -> bool:
            if non_finite_reason(result) is not None:
                return True  # nothing to attach: the trial fails with the reason
            self.client.attach_data(index, scores_of(result), progression=result.n)
            return stoppable and bool(self.client.should_stop_trial_early(index))

        return decide
