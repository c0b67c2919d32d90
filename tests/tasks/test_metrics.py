"""bomerge.tasks.metrics: GLUE metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from bomerge.tasks.metrics import accuracy, f1, matthews, pearson, spearman

PRED = np.array([1, 1, 0, 0, 1, 0])
GOLD = np.array([1, 0, 0, 1, 1, 0])  # tp=2 fp=1 tn=2 fn=1


def test_accuracy_and_f1():
    assert accuracy(PRED, GOLD) == pytest.approx(4 / 6)
    assert f1(PRED, GOLD) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))


def test_matthews_correlation():
    expected = (2 * 2 - 1 * 1) / np.sqrt(3 * 3 * 3 * 3)
    assert matthews(PRED, GOLD) == pytest.approx(expected)


def test_degenerate_predictions_score_zero_not_nan():
    constant = np.zeros(6)
    assert matthews(constant, GOLD) == 0.0
    assert pearson(constant, GOLD.astype(float)) == 0.0


def test_correlations():
    x = np.array([0.1, 0.4, 0.35, 0.8])
    y = np.array([0.0, 0.5, 0.3, 1.0])
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert spearman(x, y) == pytest.approx(1.0)
