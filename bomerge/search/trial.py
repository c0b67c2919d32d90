"""Scoring one point of a study: merge the candidates with the decoded coefficients and
evaluate the merge on the selection rows.

The same function runs in the study process (in turn, or in its evaluation thread) and in
Ray trial workers, so a point scores the same whichever executor ran it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from bomerge.tasks.base import EvalResult

if TYPE_CHECKING:
    from bomerge.merge.base import MergeMethod
    from bomerge.search.space import SearchSpace
    from bomerge.search.workbench import Workbench


@dataclass(frozen=True)
class TrialOutcome:
    """What evaluating one point gave: scores, or the reason it failed, and its seconds."""

    result: EvalResult | None
    reason: str | None
    merge_s: float
    eval_s: float
    started_at: float = 0.0  # wall-clock (time.time()) span of the merge and evaluation
    finished_at: float = 0.0


def non_finite_reason(result: EvalResult) -> str | None:
    """Why a trial's scores cannot be given to the GP (NaN/inf loss or metric), or None."""
    bad = {name: value for name, value in (("loss", result.loss), ("metric", result.metric))
           if not np.isfinite(value)}
    if not bad:
        return None
    return "non-finite " + ", ".join(f"{name} {value}" for name, value in bad.items())


def evaluate_point(bench: Workbench, method: MergeMethod, space: SearchSpace,
                   params: dict[str, float]) -> TrialOutcome:
    """Merge and score the Ax parameters ``params`` on the selection rows.

    Any exception (out of memory, a merge that cannot be formed) becomes the outcome's
    reason rather than propagating: one bad trial is that trial's, not the study's."""
    wall = time.time()
    started = time.perf_counter()
    merged_at = started
    try:
        merged = bench.merge(method, space.decode(params))
        merged_at = time.perf_counter()
        result = bench.selection.evaluate(merged)
        return TrialOutcome(result, non_finite_reason(result), merged_at - started,
                            time.perf_counter() - merged_at, wall, time.time())
    except Exception as error:  # noqa: BLE001 - any failure of one trial is that trial's
        if isinstance(error, torch.OutOfMemoryError) and torch.cuda.is_available():
            torch.cuda.empty_cache()
        return TrialOutcome(None, f"{type(error).__name__}: {error}".strip(),
                            merged_at - started, time.perf_counter() - merged_at, wall,
                            time.time())
