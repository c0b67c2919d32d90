"""Claims with uncertainty: paired bootstrap intervals of report-metric differences.

The report part of the dev rows is small (a few hundred rows; one row of RTE is almost a
point of accuracy), so a difference between two models' report metrics says little without
its noise. The paired bootstrap (Efron & Tibshirani 1993; as used for NLP comparisons by
Koehn 2004 and Berg-Kirkpatrick et al. 2012) resamples the report rows with replacement
``B`` times, scores *both* models on the *same* resample — through the task's own
``summarize``, so accuracy, F1, MCC and correlations are all recomputed per resample, and a
task with several heads is resampled within each head and averaged as the task averages —
and takes the central ``level`` percentiles of the ``B`` differences. A difference whose
interval holds 0 is a tie.

The resampling is seeded with a fixed seed, so a study's ``result.json`` is reproducible;
the per-row predictions it reads are what the study keeps under ``predictions/``
(``StudyStore.write_predictions``), so intervals are recomputed without evaluating again
(``study_claims``; ``paired_interval`` for models of two different studies on the same rows).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bomerge.errors import BomergeError
from bomerge.tasks.base import Scored

if TYPE_CHECKING:
    from bomerge.search.study.store import StudyStore
    from bomerge.tasks import Task

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
ROWS_FORMAT = 1

__all__ = ["LEVEL", "RESAMPLES", "SEED", "Bootstrap", "Interval", "claim_text", "compared",
           "same_merge",
           "iter_resamples", "keep_rows", "read_predictions", "paired_interval", "pick_claims",
           "report_task", "resample_rows",
           "rows_from_json", "rows_json", "study_claims"]


def rows_json(rows: Scored) -> dict[str, Any]:
    """A model's per-row predictions as a JSON object, rows in their original order (losses
    are not kept: the intervals are of the metric)."""
    return {"format": ROWS_FORMAT, "rows": len(rows.labels),
            "predictions": rows.predictions.tolist(), "labels": rows.labels.tolist(),
            "groups": [str(h) for h in rows.heads.tolist()],  # the heads' on-disk key
            "batch_order": rows.batch_order.tolist()}


def rows_from_json(data: dict[str, Any]) -> Scored:
    """The inverse of ``rows_json`` (losses zero): ``task.summarize`` of it gives the
    metric the study recorded."""
    heads = np.array(data["groups"], dtype=object)
    return Scored(np.asarray(data["predictions"], dtype=np.float64),
                  np.asarray(data["labels"], dtype=np.float64), heads,
                  np.asarray(data["batch_order"], dtype=np.int64),
                  {str(h): 0.0 for h in dict.fromkeys(data["groups"])})


def keep_rows(store: StudyStore, label: str, result: object) -> bool:
    """Store the per-row report predictions an evaluation collected (``RowResult.rows``)
    under ``label``; False when ``result`` carries none."""
    rows = getattr(result, "rows", None)
    if rows is None:
        return False
    store.write_predictions(label, rows_json(rows))
    return True


def read_predictions(store: StudyStore, label: str) -> Scored | None:
    """The stored report-row predictions of ``label`` in ``store``, or None."""
    data = store.read_predictions(label)
    return None if data is None else rows_from_json(data)


def iter_resamples(heads: np.ndarray, resamples: int = RESAMPLES,
                   seed: int = SEED) -> Iterator[np.ndarray]:
    """The ``resamples`` resamples of the rows, one ``(N,)`` array of row indices at a time
    (the same ones for the same heads and seed): each draws, within each head (in the
    order heads first appear), as many rows as the head has, with replacement."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(heads == head) for head in dict.fromkeys(heads.tolist())]
    for _ in range(resamples):
        yield np.concatenate([m[rng.integers(0, len(m), size=len(m))] for m in members]
                             or [np.empty(0, np.int64)])


def resample_rows(heads: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``iter_resamples`` as one ``(resamples, N)`` array."""
    return np.stack(list(iter_resamples(heads, resamples, seed)))


def _metric(task: Task, rows: Scored, order: np.ndarray | None = None) -> float:
    if order is None:
        return float(task.summarize(rows).metric)
    zero = dict.fromkeys(rows.loss_sums, 0.0)
    picked = Scored(rows.predictions[order], rows.labels[order], rows.heads[order],
                    np.arange(len(order)), zero)
    return float(task.summarize(picked).metric)


def _check_same_rows(a: Scored, b: Scored, names: tuple[str, str]) -> None:
    if (len(a.labels) != len(b.labels) or not np.array_equal(a.labels, b.labels)
            or not np.array_equal(a.heads, b.heads)):
        raise BomergeError(f"the predictions of {names[0]} and {names[1]} are not of the same "
                           f"rows ({len(a.labels)} and {len(b.labels)} rows, or other labels)")


@dataclass(frozen=True)
class Interval:
    """``difference``: metric(a) − metric(b) on all the rows; ``low``, ``high``: the
    central ``level`` percentile interval of the paired bootstrap differences."""

    difference: float
    low: float
    high: float
    resamples: int = RESAMPLES
    level: float = LEVEL

    @property
    def verdict(self) -> str:
        """``better`` or ``worse`` when the interval excludes 0, else ``tie``."""
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "tie"

    def to_json(self) -> dict[str, Any]:
        return {"difference": round(self.difference, 6), "low": round(self.low, 6),
                "high": round(self.high, 6), "verdict": self.verdict}


class Bootstrap:
    """The paired bootstrap of one set of rows: every model is scored on the same
    ``resamples`` resamples (drawn once, seeded), and each model's resampled metrics are
    computed once however many comparisons it is in."""

    def __init__(self, task: Task, heads: np.ndarray, resamples: int = RESAMPLES,
                 seed: int = SEED, level: float = LEVEL) -> None:
        if not 0 < level < 1:
            raise ValueError("level must be in (0, 1)")
        self.task, self.heads, self.level = task, heads, level
        self.resamples, self.seed = resamples, seed
        self._metrics: dict[bytes, tuple[float, np.ndarray]] = {}

    def metrics(self, rows: Scored) -> tuple[float, np.ndarray]:
        """The metric of ``rows`` on all rows and on every resample (computed once per
        distinct set of predictions: the same merge under two labels costs nothing more)."""
        if not np.array_equal(rows.heads, self.heads):
            raise BomergeError("predictions of other rows than the bootstrap's")
        key = hashlib.sha256(rows.predictions.tobytes() + rows.labels.tobytes()
                             + rows.batch_order.tobytes()).digest()
        if key not in self._metrics:
            full = _metric(self.task, rows)
            resampled = np.array([_metric(self.task, rows, order) for order in
                                  iter_resamples(self.heads, self.resamples, self.seed)])
            self._metrics[key] = (full, resampled)
        return self._metrics[key]

    @property
    def indices(self) -> np.ndarray:
        """Every resample's row indices, ``(resamples, N)`` (drawn again: for inspection)."""
        return resample_rows(self.heads, self.resamples, self.seed)

    def compare(self, a: Scored, b: Scored, names: tuple[str, str] = ("a", "b")) -> Interval:
        """metric(a) − metric(b), with its paired interval."""
        _check_same_rows(a, b, names)
        full_a, resampled_a = self.metrics(a)
        full_b, resampled_b = self.metrics(b)
        tail = 100 * (1 - self.level) / 2
        low, high = np.percentile(resampled_a - resampled_b, [tail, 100 - tail])
        return Interval(full_a - full_b, float(low), float(high), self.resamples, self.level)


def paired_interval(task: Task, a: Scored, b: Scored, resamples: int = RESAMPLES,
                    seed: int = SEED, level: float = LEVEL) -> Interval:
    """metric(a) − metric(b) of two models' predictions on the same rows, with the paired
    bootstrap interval (e.g. for a table of several studies: ``read_predictions`` of each)."""
    _check_same_rows(a, b, ("a", "b"))
    return Bootstrap(task, a.heads, resamples, seed, level).compare(a, b)


NO_ROWS = ("no report-row predictions stored (recorded before bomerge kept them; "
           "`bomerge baseline --rerun` records them)")


def compared(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What a study's pick is compared with, by label: the pick the configuration did not
    choose (``observed_pick`` or ``model_pick``) and, when the pick is a recipe recorded
    beside the trials, the pick among the trials (``trials_pick``), each when it is another
    merge; then every baseline row of the result's ``scores`` but the pick itself."""
    scores = result["scores"]
    pick = scores["pick"]
    picked_on = result.get("picked_on", "observed")
    rows = {f"{way}_pick": entry for way, entry in (result.get("picks") or {}).items()
            if way != picked_on and entry is not None and not same_merge(entry, pick)}
    rows.update((label, score) for label, score in scores.items()
                if label != "pick" and not same_merge(score, pick))
    return rows


def same_merge(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two rows of a result are one merge: one trial, or one recipe recorded beside
    the trials (no trial, one label)."""
    return a["trial"] == b["trial"] and (a["trial"] is not None or a["arm"] == b["arm"])


def pick_claims(task: Task, store: StudyStore, pick_label: str | None,
                scores: dict[str, dict[str, Any]], resamples: int = RESAMPLES,
                seed: int = SEED, level: float = LEVEL) -> dict[str, Any] | None:
    """The pick's paired intervals against every row of ``scores`` but ``pick`` (as
    ``compared`` gives them; each names its predictions by ``predictions`` or ``arm``),
    from the stored predictions; None when the pick's predictions are not stored."""
    pick = read_predictions(store, pick_label) if pick_label else None
    if pick is None:
        return None
    bootstrap = Bootstrap(task, pick.heads, resamples, seed, level)
    against: dict[str, dict[str, Any]] = {}
    loaded: dict[str, Scored | None] = {}
    for label, score in scores.items():
        if label == "pick":
            continue
        arm = score.get("predictions") or score["arm"]
        if arm not in loaded:
            loaded[arm] = read_predictions(store, arm)
        rows = loaded[arm]
        if rows is None:
            against[label] = {"note": NO_ROWS}
            continue
        try:
            against[label] = bootstrap.compare(pick, rows, ("the pick", label)).to_json()
        except BomergeError as error:  # rows of another split (a changed config): say so
            against[label] = {"note": str(error)}
    heads = len(dict.fromkeys(pick.heads.tolist()))
    return {
        "method": "paired bootstrap over the report rows" + (
            ", resampled within each head" if heads > 1 else ""),
        "difference": "pick − baseline, report " + task.metric,
        "resamples": resamples, "level": level, "seed": seed, "rows": len(pick.labels),
        "against": against,
    }


def study_claims(store: StudyStore, resamples: int = RESAMPLES, seed: int = SEED,
                 level: float = LEVEL) -> dict[str, Any] | None:
    """A finished study's claims recomputed from its stored result and predictions (the
    same numbers its ``result.json`` holds for the same settings); None before it has a
    result or when its pick's predictions are not stored."""
    result = store.read_result()
    if not result or "scores" not in result:
        return None
    pick = result["scores"]["pick"]
    return pick_claims(report_task(store), store, pick.get("predictions"), compared(result),
                       resamples, seed, level)


def report_task(store: StudyStore) -> Task:
    """The task a study's report rows are scored by: its task, normalised by each task's
    individual model on the report rows when it has normalised scores (cross-task)."""
    from bomerge.tasks import get_task

    task = get_task(store.read_config().task)
    references = store.read_references().get("report")
    return task.with_references(references) if task.normalised and references else task


def claim_text(claim: dict[str, Any] | None) -> str:
    """One comparison for people: ``+0.0125 [-0.0031, +0.0270] tie``."""
    if not claim:
        return ""
    if "difference" not in claim:
        return claim.get("note", "")
    return (f"{claim['difference']:+.4f} [{claim['low']:+.4f}, {claim['high']:+.4f}] "
            f"{claim['verdict']}")
