"""Trials as records, their Pareto set on the study's objectives (by default selection loss ↓
and selection metric ↑; a task with several heads may use one metric per head), and the pick
rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PickRule = Literal["best_metric", "best_loss", "knee", "loss_bound"]
# (name, maximise): "loss" and "metric" are the record's own fields, other names its extras.
Objective = tuple[str, bool]
LOSS_METRIC: tuple[Objective, ...] = (("loss", False), ("metric", True))
#: the status of a trial Ax stopped early (``search.early_stopping``)
STOPPED = "EARLY_STOPPED"


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
        """Scored on every selection row: a trial stopped early keeps its running scores
        for tables and plots, but is never on the front nor picked."""
        return self.loss is not None and self.metric is not None and self.status != STOPPED

    def value(self, name: str) -> float:
        if name in ("loss", "metric"):
            return getattr(self, name)
        return self.extra[name]

    @property
    def is_baseline(self) -> bool:
        return self.node == "baseline"


def dominates(a: TrialRecord, b: TrialRecord,
              objectives: tuple[Objective, ...] = LOSS_METRIC) -> bool:
    """a is at least as good as b on every objective and strictly better on one."""
    assert a.completed and b.completed
    signed = [(a.value(n), b.value(n)) if up else (-a.value(n), -b.value(n))
              for n, up in objectives]
    return all(x >= y for x, y in signed) and any(x > y for x, y in signed)


def pareto_set(records: list[TrialRecord],
               objectives: tuple[Objective, ...] = LOSS_METRIC) -> list[TrialRecord]:
    """The completed trials no other completed trial dominates, by trial index."""
    done = [r for r in records if r.completed and all(n in ("loss", "metric") or n in r.extra
                                                      for n, _ in objectives)]
    return [r for r in done if not any(dominates(o, r, objectives) for o in done if o is not r)]


def order(record: TrialRecord) -> float:
    """Which of two records with equal scores a pick rule prefers (the lower): the earlier
    trial, and any trial before a baseline recorded beside the study's trials."""
    return float("inf") if record.index is None else record.index


def same_record(a: TrialRecord, b: TrialRecord) -> bool:
    """Whether two records are the same merge of a study: the same trial, or the same
    recorded baseline (no trial index, the same label)."""
    return a.index == b.index and (a.index is not None or a.arm == b.arm)


def pick_on_front(records: list[TrialRecord], rule: PickRule, loss_bound: float | None = None,
         objectives: tuple[Objective, ...] = LOSS_METRIC) -> TrialRecord:
    """The chosen trial on the Pareto set of ``objectives``.

    * ``best_metric``: highest metric, ties → lower loss (Jang et al.'s rule);
    * ``best_loss``: lowest loss, ties → higher metric;
    * ``knee``: on the front's (loss, metric) points scaled to [0, 1], the point farthest
      from the line through the two extreme points (the knee of Das 1999 / Satopää et al.
      2011's "Kneedle"); with fewer than three points, the best metric;
    * ``loss_bound``: the highest metric among points with loss ≤ ``loss_bound``; when none
      is that low, the lowest loss.
    """
    front = pareto_set(records, objectives)
    if not front:
        raise ValueError("no completed trial to pick from")
    best_metric = max(front, key=lambda r: (r.metric, -r.loss, -order(r)))  # type: ignore[operator]
    best_loss = min(front, key=lambda r: (r.loss, -r.metric, order(r)))  # type: ignore[operator]
    if rule == "best_loss":
        return best_loss
    if rule == "loss_bound":
        if loss_bound is None:
            raise ValueError("the loss_bound rule needs a bound")
        within = [r for r in front if r.loss <= loss_bound]  # type: ignore[operator]
        if not within:
            return best_loss
        return max(within, key=lambda r: (r.metric, -r.loss, -order(r)))  # type: ignore[operator]
    if rule == "knee":
        return knee_point(front) or best_metric
    return best_metric


def knee_point(front: list[TrialRecord]) -> TrialRecord | None:
    """The knee of a (loss ↓, metric ↑) front: with both objectives scaled to [0, 1] over
    the front, the point farthest beyond the chord joining the lowest-loss and the
    highest-metric points, on the side of the ideal point (None with fewer than three
    distinct points, or when no point lies beyond the chord)."""
    losses = [r.loss for r in front]
    metrics = [r.metric for r in front]
    span_l = max(losses) - min(losses)  # type: ignore[type-var, operator]
    span_m = max(metrics) - min(metrics)  # type: ignore[type-var, operator]
    if len(front) < 3 or span_l == 0 or span_m == 0:
        return None

    def scaled(r: TrialRecord) -> tuple[float, float]:
        return ((max(losses) - r.loss) / span_l,  # type: ignore[operator, type-var]
                (r.metric - min(metrics)) / span_m)  # type: ignore[operator, type-var]

    ends = (min(front, key=lambda r: (r.loss, -r.metric)),  # type: ignore[operator]
            max(front, key=lambda r: (r.metric, -r.loss)))  # type: ignore[operator]
    (x1, y1), (x2, y2) = scaled(ends[0]), scaled(ends[1])
    length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5

    def signed(x: float, y: float) -> float:
        return ((y2 - y1) * x - (x2 - x1) * y + x2 * y1 - y2 * x1) / length

    towards_ideal = 1.0 if signed(1.0, 1.0) >= 0 else -1.0
    knee = max(front, key=lambda r: (towards_ideal * signed(*scaled(r)), r.metric, -order(r)))  # type: ignore[operator]
    return knee if towards_ideal * signed(*scaled(knee)) > 1e-12 else None


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
