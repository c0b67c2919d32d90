"""Trials as records, their Pareto set on (dev loss ↓, dev metric ↑), and the pick rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PickRule = Literal["best_metric", "best_loss"]


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a study as the user sees it.

    ``arm`` names baselines (``candidate_0``, ``uniform``, ``greedy_soup``, ``ties``...);
    ``node`` is the generation node that proposed the point (``baseline``, ``Sobol``,
    ``qLogNEHVI``). Baselines of another method than the study's are recorded beside the
    Ax experiment and have no trial ``index``.
    """

    index: int | None
    arm: str
    node: str
    status: str
    coefficients: dict[str, list[float] | float]
    loss: float | None = None
    metric: float | None = None
    extra: dict[str, float] = field(default_factory=dict)
    method: str = ""
    note: str = ""

    @property
    def completed(self) -> bool:
        return self.loss is not None and self.metric is not None

    @property
    def is_baseline(self) -> bool:
        return self.node == "baseline"


def dominates(a: TrialRecord, b: TrialRecord) -> bool:
    """a is at least as good as b on both objectives and strictly better on one."""
    assert a.completed and b.completed
    no_worse = a.loss <= b.loss and a.metric >= b.metric  # type: ignore[operator]
    better = a.loss < b.loss or a.metric > b.metric  # type: ignore[operator]
    return no_worse and better


def pareto_set(records: list[TrialRecord]) -> list[TrialRecord]:
    """The completed trials no other completed trial dominates, by trial index."""
    done = [r for r in records if r.completed]
    return [r for r in done if not any(dominates(o, r) for o in done if o is not r)]


def pick(records: list[TrialRecord], rule: PickRule) -> TrialRecord:
    """The chosen trial on the Pareto set: best metric (ties → lower loss; Jang et al.'s
    rule) or lowest loss (ties → higher metric)."""
    front = pareto_set(records)
    if not front:
        raise ValueError("no completed trial to pick from")
    if rule == "best_loss":
        return min(front, key=lambda r: (r.loss, -r.metric, r.index))  # type: ignore[operator]
    return max(front, key=lambda r: (r.metric, -r.loss, -r.index))  # type: ignore[operator]


def reference_point(
    records: list[TrialRecord], loss_threshold: float | None = None,
    metric_threshold: float | None = None,
) -> tuple[float, float]:
    """The hypervolume reference (loss, metric): the study's objective thresholds where
    set, else the worst completed loss and metric (the nadir of all trials)."""
    done = [r for r in records if r.completed]
    loss = loss_threshold if loss_threshold is not None else max(r.loss for r in done)  # type: ignore[type-var]
    metric = metric_threshold if metric_threshold is not None else min(r.metric for r in done)  # type: ignore[type-var]
    return float(loss), float(metric)  # type: ignore[arg-type]


def hypervolume(records: list[TrialRecord], reference: tuple[float, float]) -> float:
    """Area dominated by the completed trials in the (−loss, metric) plane above
    ``reference`` (BoTorch's exact ``Hypervolume``)."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    points = [(-r.loss, r.metric) for r in records if r.completed]  # type: ignore[operator]
    if not points:
        return 0.0
    ref = torch.tensor([-reference[0], reference[1]], dtype=torch.float64)
    y = torch.tensor(points, dtype=torch.float64)
    y = y[(y > ref).all(dim=1)]
    if len(y) == 0:
        return 0.0
    return float(Hypervolume(ref).compute(y))


@dataclass(frozen=True)
class ProgressPoint:
    """After trial ``index``: the dominated hypervolume and the best metric so far."""

    index: int
    hypervolume: float
    best_metric: float


def progress(records: list[TrialRecord], reference: tuple[float, float]) -> list[ProgressPoint]:
    """Hypervolume and best metric after each completed trial, in trial order."""
    done = sorted((r for r in records if r.completed and r.index is not None),
                  key=lambda r: r.index)  # type: ignore[arg-type, return-value]
    return [
        ProgressPoint(r.index, hypervolume(done[: i + 1], reference),  # type: ignore[arg-type]
                      max(o.metric for o in done[: i + 1]))  # type: ignore[type-var]
        for i, r in enumerate(done)
    ]
