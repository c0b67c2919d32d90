"""bomerge.search.batching: q per generation call, fixed or chosen from measured seconds."""

from __future__ import annotations

import pytest

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.search.batching import MAX_AUTO, BatchSize, auto_batch_size


def test_a_fixed_batch_size_is_what_the_config_says():
    batch = BatchSize(4)
    batch.generated(10.0)
    batch.evaluated(0.1)
    assert batch() == 4


def test_auto_is_one_until_a_generation_and_an_evaluation_are_measured():
    batch = BatchSize("auto")
    assert batch() == 1
    batch.generated(2.0)
    assert batch() == 1
    batch.evaluated(0.5)
    assert batch() == 4  # ⌈2.0 / 0.5⌉


@pytest.mark.parametrize(("generation", "evaluation", "q"), [
    (1.0, 2.0, 1),            # evaluation slower than generation: one at a time
    (1.0, 1.0, 1),
    (3.0, 1.0, 3),
    (2.1, 1.0, 3),            # a batch's evaluation must cover its generation: round up
    (100.0, 1.0, MAX_AUTO),   # capped, so the search still learns between batches
    (1.0, 0.0, MAX_AUTO),
])
def test_auto_is_generation_over_evaluation_rounded_up_and_capped(generation, evaluation, q):
    assert auto_batch_size(generation, evaluation) == q


def test_auto_follows_the_mean_of_the_last_five_evaluations():
    batch = BatchSize("auto")
    batch.generated(4.0)
    for seconds in (10.0, 1.0, 1.0, 1.0, 1.0, 1.0):  # the first one leaves the window
        batch.evaluated(seconds)
    assert batch() == 4


def test_the_config_takes_an_int_or_auto_and_refuses_anything_else(tmp_path):
    base = {"name": "b", "candidates": {"paths": ["a", "b"]}, "task": {"name": "sst2"}}
    assert parse_config(base | {"search": {"batch_size": "auto"}}, "c", tmp_path
                        ).search.batch_size == "auto"
    assert parse_config(base | {"search": {"batch_size": 3}}, "c", tmp_path).search.batch_size == 3
    for bad in (0, -1, "many"):
        with pytest.raises(BomergeError, match="search.batch_size"):
            parse_config(base | {"search": {"batch_size": bad}}, "c", tmp_path)
