"""bomerge.search.claims: paired bootstrap intervals of report-metric differences, on
constructed predictions whose intervals are known in shape."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bomerge.config import TaskConfig
from bomerge.errors import BomergeError
from bomerge.search.claims import (
    Bootstrap,
    Interval,
    claim_text,
    paired_interval,
    resample_rows,
    rows_from_json,
    rows_json,
)
from bomerge.tasks import get_task
from bomerge.tasks.base import Scored

SST2 = get_task(TaskConfig(name="sst2"))
STSB = get_task(TaskConfig(name="stsb"))
CS224N = get_task(TaskConfig(name="cs224n"))


def scored(predictions, labels, heads) -> Scored:
    predictions = np.asarray(predictions, dtype=np.float64)
    heads = np.array(heads, dtype=object)
    return Scored(predictions, np.asarray(labels, dtype=np.float64), heads,
                  np.arange(len(predictions)), {g: 0.0 for g in dict.fromkeys(heads.tolist())})


def one_head(predictions, labels, name="sst2") -> Scored:
    return scored(predictions, labels, [name] * len(labels))


def labels_of(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, n).astype(np.float64)


def test_identical_models_tie_at_zero():
    labels = labels_of(200)
    noisy = np.where(np.arange(200) % 3 == 0, 1 - labels, labels)
    interval = paired_interval(SST2, one_head(noisy, labels), one_head(noisy.copy(), labels))
    assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert interval.verdict == "tie"
    assert claim_text(interval.to_json()) == "+0.0000 [+0.0000, +0.0000] tie"


def test_a_model_right_on_every_row_beats_one_wrong_on_half():
    labels = labels_of(200)
    half_wrong = np.where(np.arange(200) % 2 == 0, 1 - labels, labels)
    interval = paired_interval(SST2, one_head(labels, labels), one_head(half_wrong, labels))
    assert interval.difference == pytest.approx(0.5)
    assert 0.35 < interval.low < 0.5 < interval.high < 0.65  # well above 0: a gain
    assert interval.verdict == "better"
    reverse = paired_interval(SST2, one_head(half_wrong, labels), one_head(labels, labels))
    assert reverse.verdict == "worse"
    assert (reverse.low, reverse.high) == pytest.approx((-interval.high, -interval.low))


def test_paired_resampling_scores_both_models_on_the_same_rows():
    """Two models that differ on one row of 400: on every resample their difference is
    (times that row was drawn) / 400 ≥ 0, so the interval never goes below 0 — resampling
    each model's rows on their own would spread it over ±5 points."""
    n = 400
    labels = labels_of(n, seed=1)
    guess = labels_of(n, seed=2)  # about half right
    guess[7] = labels[7]
    worse = guess.copy()
    worse[7] = 1 - labels[7]
    bootstrap = Bootstrap(SST2, np.array(["sst2"] * n, dtype=object))
    interval = bootstrap.compare(one_head(guess, labels), one_head(worse, labels))
    assert interval.difference == pytest.approx(1 / n)
    assert interval.low >= 0 and interval.high <= 5 / n
    counts = (bootstrap.indices == 7).sum(axis=1)
    _, a = bootstrap.metrics(one_head(guess, labels))
    _, b = bootstrap.metrics(one_head(worse, labels))
    assert np.allclose(a - b, counts / n)


def test_correlation_metrics_are_recomputed_on_every_resample():
    rng = np.random.default_rng(3)
    labels = rng.uniform(0, 5, 150)
    close = labels + rng.normal(0, 0.5, 150)
    far = labels + rng.normal(0, 2.0, 150)
    bootstrap = Bootstrap(STSB, np.array(["stsb"] * 150, dtype=object), resamples=300)
    full, resampled = bootstrap.metrics(one_head(close, labels, "stsb"))
    assert full == pytest.approx(stats.pearsonr(close, labels)[0])
    for j in (0, 17, 299):  # the Pearson correlation of resample j's rows, not a mean of rows
        rows = bootstrap.indices[j]
        assert resampled[j] == pytest.approx(stats.pearsonr(close[rows], labels[rows])[0])
    assert len(set(np.round(resampled, 12))) > 250
    interval = bootstrap.compare(one_head(close, labels, "stsb"), one_head(far, labels, "stsb"))
    assert interval.verdict == "better" and interval.low > 0


def test_a_several_head_task_is_resampled_within_each_head_and_summarised_by_the_task():
    heads = ["sst"] * 60 + ["quora"] * 90 + ["sts"] * 50
    indices = resample_rows(np.array(heads, dtype=object), resamples=50, seed=0)
    drawn = np.array(heads, dtype=object)[indices]
    assert all(((drawn == g).sum(axis=1) == heads.count(g)).all() for g in ("sst", "quora", "sts"))

    rng = np.random.default_rng(4)
    labels = np.concatenate([rng.integers(0, 5, 60), rng.integers(0, 2, 90),
                             rng.uniform(0, 5, 50)]).astype(np.float64)
    a = labels.copy()
    a[150:] = labels[150:] + rng.normal(0, 0.3, 50)
    b = a.copy()
    b[150:] = labels[150:] + rng.normal(0, 3.0, 50)  # only the STS head differs
    interval = paired_interval(CS224N, scored(a, labels, heads), scored(b, labels, heads))
    sts_gain = stats.pearsonr(a[150:], labels[150:])[0] - stats.pearsonr(b[150:], labels[150:])[0]
    assert interval.difference == pytest.approx(sts_gain / 3)  # the task's average of heads
    assert interval.verdict == "better"


def test_intervals_are_seeded_and_predictions_round_trip_through_json():
    labels = labels_of(120)
    mixed = np.where(np.arange(120) % 4 == 0, 1 - labels, labels)
    other = np.where(np.arange(120) % 5 == 0, 1 - labels, labels)
    first = paired_interval(SST2, one_head(mixed, labels), one_head(other, labels))
    again = paired_interval(SST2, one_head(mixed, labels), one_head(other, labels))
    assert first == again
    assert paired_interval(SST2, one_head(mixed, labels), one_head(other, labels), seed=1) != first
    rows = one_head(mixed, labels)
    back = rows_from_json(rows_json(rows))
    assert np.array_equal(back.predictions, rows.predictions)
    assert np.array_equal(back.heads, rows.heads)
    assert SST2.summarize(back).metric == SST2.summarize(rows).metric
    assert Interval(0.01, -0.002, 0.03).verdict == "tie"


def test_predictions_of_other_rows_are_refused():
    labels = labels_of(50)
    with pytest.raises(BomergeError, match="not of the same rows"):
        paired_interval(SST2, one_head(labels, labels), one_head(labels[:40], labels[:40]))
