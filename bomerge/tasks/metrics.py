"""GLUE metrics, computed from predictions and labels held as 1-D numpy arrays.

Conventions (Wang et al., 2019, "GLUE"): accuracy for SST-2, RTE, QQP, MRPC (MRPC and QQP
also report F1 of the positive class), Matthews correlation for CoLA, Pearson and Spearman
correlation for STS-B. Degenerate inputs (a constant prediction) give 0.0 rather than NaN so
that a collapsed merge scores as bad, not as missing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predictions == labels))


def f1(predictions: np.ndarray, labels: np.ndarray) -> float:
    true_pos = float(np.sum((predictions == 1) & (labels == 1)))
    false_pos = float(np.sum((predictions == 1) & (labels == 0)))
    false_neg = float(np.sum((predictions == 0) & (labels == 1)))
    denominator = 2 * true_pos + false_pos + false_neg
    return 2 * true_pos / denominator if denominator else 0.0


def matthews(predictions: np.ndarray, labels: np.ndarray) -> float:
    tp = float(np.sum((predictions == 1) & (labels == 1)))
    tn = float(np.sum((predictions == 0) & (labels == 0)))
    fp = float(np.sum((predictions == 1) & (labels == 0)))
    fn = float(np.sum((predictions == 0) & (labels == 1)))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / denominator) if denominator else 0.0


def _correlation(fn: Callable[..., object], predictions: np.ndarray, labels: np.ndarray) -> float:
    if np.std(predictions) == 0 or np.std(labels) == 0:
        return 0.0
    return float(fn(predictions, labels)[0])  # type: ignore[index]


def pearson(predictions: np.ndarray, labels: np.ndarray) -> float:
    from scipy import stats  # imported when a correlation is computed: reading a study needs none

    return _correlation(stats.pearsonr, predictions, labels)


def spearman(predictions: np.ndarray, labels: np.ndarray) -> float:
    from scipy import stats

    return _correlation(stats.spearmanr, predictions, labels)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "matthews": matthews,
    "pearson": pearson,
    "spearman": spearman,
}
