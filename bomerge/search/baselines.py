"""Fixed merging recipes run through the study's evaluator and recorded in the study.

Each baseline is a method and a point of its parameters: every single candidate, the
uniform soup (plain SWA when the candidates are snapshots of one run), greedy soup
(Wortsman et al. 2022), each registered method at its paper's defaults (Fisher with
uniform λ, RegMean, MaTS, task arithmetic λ = 0.3, TIES, Localize-and-Stitch data-free) and
task arithmetic at the λ a grid search on the selection rows finds (Ilharco et al. 2023's
own practice, the one a BO search must beat). A cross-task study also records
``individual``: each task's rows scored by its own candidate, unmerged (the reference
its normalised scores divide by; not a merge).
They are scored on the selection rows (what the search sees) and once on the report rows
(whose per-row predictions the study keeps, ``predictions/LABEL.json``); those that are
points of the study's own search space also become labelled Ax arms, so BO starts from them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bomerge.errors import BomergeError
from bomerge.merge import METHODS
from bomerge.merge.base import MergeMethod, uniform
from bomerge.merge.weights import WeightedAverage
from bomerge.search.claims import keep_rows
from bomerge.search.trial import scores_of

SINGLE_PREFIX = "candidate_"
# The weighted average's fixed recipes are the groups below (its own point, the uniform
# soup, is one of them); every other registered method is a baseline at its defaults.
WEIGHTS = WeightedAverage.name


def method_baselines() -> tuple[str, ...]:
    """Every registered method but the weighted average, in a fixed order that does not
    depend on import order: methods on the candidates themselves before task-vector methods
    (which need a base), each group by the year of its paper, then by name."""
    others = [cls for name, cls in METHODS.items() if name != WEIGHTS]
    ordered = sorted(others, key=lambda c: (c.needs_base, c.year, c.name))
    return tuple(cls.name for cls in ordered)


METHOD_BASELINES = method_baselines()
INDIVIDUAL = "individual"
TASK_ARITHMETIC = "task_arithmetic"
TA_GRID = "task_arithmetic_grid"
#: The λ of the grid search: Ilharco et al. search [0, 1] on validation rows.
TA_GRID_SCALES = tuple(round(0.1 * i, 1) for i in range(1, 11))
#: Every baseline a config or ``--only`` may name.
BASELINES = ("candidates", INDIVIDUAL, "uniform", "greedy_soup", *METHOD_BASELINES, TA_GRID)
#: What a study runs when it names none: the suite; a cross-task study also records its
#: individual models and the grid-best task arithmetic (the practice of that setting).
ONE_TASK_SUITE = ("candidates", "uniform", "greedy_soup", *METHOD_BASELINES)
CROSS_TASK_SUITE = BASELINES


def default_baselines(cross_task: bool) -> tuple[str, ...]:
    return CROSS_TASK_SUITE if cross_task else ONE_TASK_SUITE


def baseline_needs_base(name: str) -> bool:
    """Whether baseline ``name`` works on task vectors (needs ``candidates.base``)."""
    if name == TA_GRID:
        return True
    return name in METHOD_BASELINES and METHODS[name].needs_base


def check_baseline_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise BomergeError(
            f"unknown baseline '{unknown[0]}' (known: {', '.join(BASELINES)})"
        )


@dataclass(frozen=True)
class GreedySoup:
    """``kept``: candidate indices in the soup, in the order added; ``metric``: the soup's
    selection metric; ``tried``: (candidate, metric of soup + candidate, accepted)."""

    kept: list[int]
    metric: float
    tried: list[tuple[int, float, bool]]


def greedy_soup(single_metrics: list[float],
                soup_metric: Callable[[list[int]], float]) -> GreedySoup:
    """Greedy soup (Wortsman et al. 2022, "Model soups", Recipe 1).

    Sort candidates by their own metric, best first (ties: lower index first); start from the
    best; try each other candidate once, keeping it only if the uniform average of the soup
    plus it *strictly* improves the metric. ``soup_metric(indices)`` scores the uniform
    average of those candidates.
    """
    order = sorted(range(len(single_metrics)), key=lambda i: (-single_metrics[i], i))
    kept, best = [order[0]], single_metrics[order[0]]
    tried = []
    for i in order[1:]:
        metric = soup_metric([*kept, i])
        accepted = metric > best
        tried.append((i, metric, accepted))
        if accepted:
            kept.append(i)
            best = metric
    return GreedySoup(kept, best, tried)


@dataclass
class BaselineResult:
    """One fixed recipe's scores; ``trial`` is its Ax trial when it is an arm of the study."""

    label: str
    method: str
    coefficients: dict[str, Any]
    selection: dict[str, float]
    report: dict[str, float]
    seconds: dict[str, float]
    note: str = ""
    trial: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def jsonable(values: dict[str, np.ndarray | float]) -> dict[str, Any]:
    return {k: (np.round(v, 6).tolist() if isinstance(v, np.ndarray) else round(float(v), 6))
            for k, v in values.items()}


def expand(names: list[str], k: int) -> list[str]:
    """Baseline group names → labels, in the order they run."""
    labels = []
    for name in names:
        labels += [f"{SINGLE_PREFIX}{i}" for i in range(k)] if name == "candidates" else [name]
    return labels


def baseline_scores(baselines: dict[str, dict[str, Any]], k: int) -> dict[str, dict[str, Any]]:
    """The rows ``result.json`` holds for recorded baselines (``baselines`` as the store
    reads them, K candidates): the best and the last single candidate, then every other
    baseline by label."""
    singles = [b for label, b in baselines.items() if label.startswith(SINGLE_PREFIX)]
    named: dict[str, dict[str, Any]] = {}
    if singles:
        named["best_single"] = max(
            singles, key=lambda b: (b["selection"]["metric"], -b["selection"]["loss"]))
        named["last_candidate"] = baselines.get(f"{SINGLE_PREFIX}{k - 1}", singles[-1])
    named.update({label: b for label, b in baselines.items()
                  if not label.startswith(SINGLE_PREFIX)})
    return {
        label: {"trial": b["trial"], "arm": b["label"], "method": b["method"],
                "selection": b["selection"], "report": b["report"]}
        for label, b in named.items()
    }


class BaselineRunner:
    """Runs baselines on a ``Workbench``; ``attach(label, method, values, result)`` may turn a
    result into an Ax arm and return its trial index."""

    def __init__(self, bench: Any, attach: Callable[..., int | None] | None = None,
                 echo: Callable[[str], None] | None = None) -> None:
        self.bench = bench
        self.attach = attach
        self.echo = echo or (lambda line: None)
        self.results: dict[str, BaselineResult] = {}

    def run(self, names: list[str], skip: set[str] | None = None) -> list[BaselineResult]:
        check_baseline_names(names)
        k = self.bench.pool.k
        done = []
        for label in expand(names, k):
            if skip and label in skip:
                continue
            done.append(self._run_one(label, k))
        return done

    def _run_one(self, label: str, k: int) -> BaselineResult:
        bench = self.bench
        if label.startswith(SINGLE_PREFIX):
            method, values = (bench.method(WEIGHTS, {}),
                              {"w": np.eye(k)[int(label[len(SINGLE_PREFIX):])]})
            note = bench.paths[int(label[len(SINGLE_PREFIX):])].name
        elif label == "uniform":
            method, values, note = bench.method(WEIGHTS, {}), {"w": uniform(k)}, ""
        elif label == INDIVIDUAL:
            return self._individual()
        elif label == TA_GRID:
            return self._grid()
        elif label == "greedy_soup":
            method = bench.method(WEIGHTS, {})
            soup = self._greedy(method, k)
            values = {"w": np.bincount(soup.kept, minlength=k) / len(soup.kept)}
            note = "kept " + " ".join(str(i) for i in soup.kept)
        else:
            method = bench.method(label)
            values, note = method.defaults(k), _values_note(method.defaults(k), k)
        return self._score(label, method, values, note)

    def _grid(self) -> BaselineResult:
        """Task arithmetic (one λ, default options) at the grid λ with the best selection
        metric (ties: the smaller λ); its seconds include the grid's evaluations."""
        method = self.bench.method(TASK_ARITHMETIC, {})
        started = time.perf_counter()
        scored = [(self.bench.evaluate(method, {"lambda": lam}).metric, lam)
                  for lam in TA_GRID_SCALES]
        best = max(scored, key=lambda pair: (pair[0], -pair[1]))[1]
        note = f"lambda={best:g} (grid {TA_GRID_SCALES[0]:g}…{TA_GRID_SCALES[-1]:g})"
        return self._score(TA_GRID, method, {"lambda": best}, note, since=started)

    def _score(self, label: str, method: MergeMethod, values: dict[str, Any], note: str,
               since: float | None = None) -> BaselineResult:
        bench = self.bench
        started = time.perf_counter() if since is None else since
        bench.prepared(method)
        prepared = time.perf_counter()
        merged = bench.merge(method, values)
        merged_at = time.perf_counter()
        curve: list[tuple[int, dict[str, float]]] = []  # running scores, chunk by chunk
        selection = bench.selection.evaluate(
            merged, lambda running: bool(curve.append((running.n, scores_of(running)))))
        evaluated = time.perf_counter()
        report = bench.report.evaluate(merged)
        self._keep_rows(label, report)
        result = BaselineResult(
            label=label, method=method.name, coefficients=jsonable(values),
            selection=scores_of(selection),
            report=scores_of(report),
            seconds={"prepare": round(prepared - started, 3),
                     "merge": round(merged_at - prepared, 3),
                     "evaluate": round(evaluated - merged_at, 3),
                     "wall": round(evaluated - started, 3)},
            note=note,
            # the options it was merged with: export rebuilds the same merge from them
            # and its running scores, the reference curve early stopping compares trials with
            extra={"options": method.options.model_dump(), "curve": curve},
        )
        if self.attach is not None:
            result.trial = self.attach(label, method, values, result)
        self.results[label] = result
        self.echo(
            f"baseline {label:>16} [dim]{method.name:>15}[/]  loss {selection.loss:.4f}  "
            f"{bench.task.metric} {selection.metric:.4f}  {result.seconds['wall']:.1f}s"
            + (f"  {note}" if label == "greedy_soup" else "")
        )
        return result

    def _individual(self) -> BaselineResult:
        """Each task's rows through its own candidate (cross-task studies): not a merge and
        not an arm; its normalised scores are 1 by definition."""
        bench = self.bench
        started = time.perf_counter()
        selection = bench.individual(bench.selection)
        evaluated = time.perf_counter()
        report = bench.individual(bench.report)
        self._keep_rows(INDIVIDUAL, report)
        result = BaselineResult(
            label=INDIVIDUAL, method=INDIVIDUAL, coefficients={},
            selection=scores_of(selection),
            report=scores_of(report),
            seconds={"prepare": 0.0, "merge": 0.0, "evaluate": round(evaluated - started, 3),
                     "wall": round(evaluated - started, 3)},
            note="each task by its own candidate")
        self.results[INDIVIDUAL] = result
        self.echo(f"baseline {INDIVIDUAL:>16} [dim]{'(unmerged)':>15}[/]  "
                  f"loss {selection.loss:.4f}  "
                  f"{bench.task.metric} {selection.metric:.4f}")
        return result

    def _keep_rows(self, label: str, report: Any) -> None:
        """Store the baseline's report-row predictions in the study (for paired intervals
        against the pick without evaluating again)."""
        store = getattr(self.bench, "store", None)
        if store is not None:
            keep_rows(store, label, report)

    def _greedy(self, method: MergeMethod, k: int) -> GreedySoup:
        singles = []
        for i in range(k):
            label = f"{SINGLE_PREFIX}{i}"
            if label not in self.results:
                self._run_one(label, k)
            singles.append(self.results[label].selection["metric"])

        def soup_metric(indices: list[int]) -> float:
            weights = np.bincount(indices, minlength=k) / len(indices)
            return self.bench.evaluate(method, {"w": weights}).metric

        return greedy_soup(singles, soup_metric)


def _values_note(values: dict[str, Any], k: int) -> str:
    parts = []
    for name, value in values.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{name} uniform" if np.allclose(value, 1.0 / k)
                         else f"{name}={np.round(value, 3).tolist()}")
        else:
            parts.append(f"{name}={value:g}")
    return " ".join(parts)
