"""Scoring one point of a study: merge the candidates with the decoded coefficients and
evaluate the merge on the selection rows.

The same function runs in the study process (in turn, or in its evaluation thread) and in
Ray trial workers, so a point scores the same whichever executor ran it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from bomerge.tasks.base import EvalResult

if TYPE_CHECKING:
    from bomerge.evaluate import EvaluationPass
    from bomerge.merge.base import MergeMethod
    from bomerge.search.space import SearchSpace
    from bomerge.search.workbench import Workbench


#: After a chunk of a trial's selection rows: its running scores → whether to stop it.
ChunkDecision = Callable[[EvalResult], bool]


@dataclass(frozen=True)
class TrialOutcome:
    """What evaluating one point gave: scores, or the reason it failed, and its seconds.
    ``stopped``: early-stopped after the chunks its ``result`` (``n`` rows) covers."""

    result: EvalResult | None
    reason: str | None
    merge_s: float
    eval_s: float
    started_at: float = 0.0  # wall-clock (time.time()) span of the merge and evaluation
    finished_at: float = 0.0
    stopped: bool = False


def non_finite_reason(result: EvalResult) -> str | None:
    """Why a trial's scores cannot be given to the GP (NaN/inf loss or metric), or None."""
    bad = {name: value for name, value in (("loss", result.loss), ("metric", result.metric))
           if not np.isfinite(value)}
    if not bad:
        return None
    return "non-finite " + ", ".join(f"{name} {value}" for name, value in bad.items())


def scores_of(result: EvalResult) -> dict[str, float]:
    """An evaluation's scores as Ax and the study's files record them: loss, metric and
    every other score."""
    return {"loss": result.loss, "metric": result.metric, **result.extra}


def failure_reason(error: Exception) -> str:
    """A failed trial's reason; out of CUDA memory, the cache is emptied for the next one."""
    if isinstance(error, torch.OutOfMemoryError) and torch.cuda.is_available():
        torch.cuda.empty_cache()
    return f"{type(error).__name__}: {error}".strip()


class SteppedTrial:
    """One point merged and scored on the selection rows chunk by chunk, for executors that
    hand each chunk's running scores to the study process between calls (a Ray worker keeps
    one between remote calls). ``step`` merges first, then scores the next chunk: it gives
    the running scores, or the outcome once the last chunk is scored or the trial failed;
    ``stop`` ends the trial after the chunks scored so far."""

    def __init__(self, bench: Workbench, method: MergeMethod, space: SearchSpace,
                 params: dict[str, float]) -> None:
        self.bench, self.method, self.space, self.params = bench, method, space, params
        self.wall = time.time()
        self.started = self.merged_at = time.perf_counter()
        self.evaluation: EvaluationPass | None = None
        self.last: EvalResult | None = None

    def step(self) -> EvalResult | TrialOutcome:
        try:
            if self.evaluation is None:
                merged = self.bench.merge(self.method, self.space.decode(self.params))
                self.merged_at = time.perf_counter()
                self.evaluation = self.bench.selection.start(merged)
            self.last = self.evaluation.next_chunk()
        except Exception as error:  # noqa: BLE001 - any failure of one trial is that trial's
            return self._outcome(None, failure_reason(error))
        if self.evaluation.finished:
            return self._outcome(self.last, non_finite_reason(self.last))
        return self.last

    def stop(self) -> TrialOutcome:
        assert self.last is not None, "stopped before its first chunk"
        return self._outcome(self.last, non_finite_reason(self.last), stopped=True)

    def _outcome(self, result: EvalResult | None, reason: str | None,
                 stopped: bool = False) -> TrialOutcome:
        return TrialOutcome(result, reason, self.merged_at - self.started,
                            time.perf_counter() - self.merged_at, self.wall, time.time(), stopped)


def evaluate_point(bench: Workbench, method: MergeMethod, space: SearchSpace,
                   params: dict[str, float], on_chunk: ChunkDecision | None = None) -> TrialOutcome:
    """Merge and score the Ax parameters ``params`` on the selection rows, chunk by chunk:
    ``on_chunk`` sees the running scores after each chunk but the last and may stop the
    trial there (progressive evaluation).

    Any exception (out of memory, a merge that cannot be formed) becomes the outcome's
    reason rather than propagating: one bad trial is that trial's, not the study's."""
    wall = time.time()
    started = time.perf_counter()
    merged_at = started
    try:
        merged = bench.merge(method, space.decode(params))
        merged_at = time.perf_counter()
        result = bench.selection.evaluate(merged, on_chunk)
        return TrialOutcome(result, non_finite_reason(result), merged_at - started,
                            time.perf_counter() - merged_at, wall, time.time(),
                            stopped=result.n < bench.selection.n)
    except Exception as error:  # noqa: BLE001 - any failure of one trial is that trial's
        return TrialOutcome(None, failure_reason(error), merged_at - started,
                            time.perf_counter() - merged_at, wall, time.time())
