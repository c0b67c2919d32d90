"""Paired bootstrap intervals for the results table: a MOBO row (the mean over its search
seeds) against a fixed recipe, per task and on the task average.

A MOBO row is several models (one pick per search seed) and the number in the table is
their mean, so its interval is of that mean: every seed's pick and the baseline are scored
on the *same* resampled report rows (``bomerge.search.claims.Bootstrap``: 2,000 resamples,
seed 0, the task's metric recomputed per resample), the seed picks' resampled metrics are
averaged, and the central 95% of (mean pick − baseline) is the interval. The task average
averages the tasks' resampled differences (the tasks' rows are resampled independently,
as they are independent rows). An interval holding 0 is a tie.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bomerge.search.claims import LEVEL, Bootstrap, read_predictions, report_task
from bomerge.search.study.store import StudyStore
from bomerge.tasks.base import Scored


@dataclass(frozen=True)
class SeedMeanDifference:
    """mean over seeds of metric(pick) − metric(baseline) on all report rows, its resampled
    values ``(B,)``, and how many seeds' own paired intervals lie above / below 0."""

    difference: float
    resampled: np.ndarray
    better: int
    worse: int
    seeds: int

    @property
    def interval(self) -> tuple[float, float]:
        tail = 100 * (1 - LEVEL) / 2
        low, high = np.percentile(self.resampled, [tail, 100 - tail])
        return float(low), float(high)

    @property
    def verdict(self) -> str:
        low, high = self.interval
        return "better" if low > 0 else "worse" if high < 0 else "tie"


def stored_rows(studies: Path, name: str, score: dict[str, Any]) -> Scored | None:
    """The report-row predictions a study stored for one row of its result's ``scores``."""
    store = StudyStore(studies / name)
    return read_predictions(store, score.get("predictions") or score["arm"])


def seed_mean_difference(studies: Path, searches: list[dict[str, Any]], fixed: dict[str, Any],
                         baseline: str) -> SeedMeanDifference | None:
    """The MOBO row (``searches``: the seeds' summaries) against the fixed study's
    ``baseline`` row; None when a study's predictions are missing."""
    score = fixed["result"]["scores"].get(baseline)
    if score is None or not searches:
        return None
    base_rows = stored_rows(studies, fixed["name"], score)
    picks = [stored_rows(studies, s["name"], s["result"]["scores"]["pick"]) for s in searches]
    if base_rows is None or any(p is None for p in picks):
        return None
    task = report_task(StudyStore(studies / fixed["name"]))  # normalised for cross-task
    bootstrap = Bootstrap(task, base_rows.heads)
    full_base, resampled_base = bootstrap.metrics(base_rows)
    fulls, resampled, better, worse = [], [], 0, 0
    for pick in picks:
        assert pick is not None
        full, values = bootstrap.metrics(pick)
        fulls.append(full)
        resampled.append(values)
        verdict = bootstrap.compare(pick, base_rows).verdict
        better, worse = better + (verdict == "better"), worse + (verdict == "worse")
    return SeedMeanDifference(float(np.mean(fulls) - full_base),
                              np.mean(resampled, axis=0) - resampled_base, better, worse,
                              len(picks))


def average_difference(per_task: list[SeedMeanDifference]) -> SeedMeanDifference:
    """The task average of per-task differences (each task's resamples averaged in turn)."""
    return SeedMeanDifference(float(np.mean([d.difference for d in per_task])),
                              np.mean([d.resampled for d in per_task], axis=0),
                              sum(d.better for d in per_task), sum(d.worse for d in per_task),
                              sum(d.seeds for d in per_task))


def interval_cell(found: SeedMeanDifference | None, seeds_note: bool = True) -> str:
    """``+1.2 [−0.4, +2.8]`` in points (bold when the interval excludes 0), and how many
    seeds' own intervals are above / below 0."""
    if found is None:
        return "—"
    low, high = found.interval
    text = f"{100 * found.difference:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"
    if found.verdict != "tie":
        text = f"**{text}**"
    if seeds_note:
        text += f" ({found.better}↑ {found.worse}↓ of {found.seeds})"
    return text
