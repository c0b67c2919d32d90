"""bomerge.search.space: every encoding maps Ax points to valid simplex weights."""

from __future__ import annotations

import numpy as np
import pytest

from bomerge.merge.base import Scalar, Simplex
from bomerge.search.space import SearchSpace

ENCODINGS = ["stick_breaking", "normalized", "constrained"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_random_points_decode_to_the_simplex(encoding):
    space = SearchSpace([Simplex("w", 5)], encoding)
    rng = np.random.default_rng(0)
    names = [p.name for p in space.parameters()]
    for _ in range(200):
        raw = rng.random(len(names))
        if encoding == "constrained":
            raw = raw / max(1.0, raw.sum())
        w = space.decode(dict(zip(names, raw)))["w"]
        assert w.shape == (5,) and np.all(w >= 0) and w.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_one_hot_and_uniform_points_round_trip_exactly(encoding):
    space = SearchSpace([Simplex("w", 4)], encoding)
    for weights in [*np.eye(4), np.full(4, 0.25), np.array([0.1, 0.2, 0.3, 0.4])]:
        decoded = space.decode(space.encode({"w": weights}))["w"]
        np.testing.assert_allclose(decoded, weights, atol=1e-12)
    for i in range(4):
        assert np.array_equal(space.decode(space.encode({"w": np.eye(4)[i]}))["w"], np.eye(4)[i])


def test_parameter_counts_and_constraint():
    assert len(SearchSpace([Simplex("w", 4)], "stick_breaking").parameters()) == 3
    assert len(SearchSpace([Simplex("w", 4)], "normalized").parameters()) == 4
    constrained = SearchSpace([Simplex("w", 4)], "constrained")
    assert constrained.constraints() == ["w0 + w1 + w2 <= 1"]
    assert SearchSpace([Simplex("w", 4)]).constraints() == []


def test_scalars_pass_through():
    space = SearchSpace([Scalar("lam", 0.01, 1.0, log=True)])
    (param,) = space.parameters()
    assert param.bounds == (0.01, 1.0) and param.scaling.lower() == "log"
    assert space.decode({"lam": 0.3}) == {"lam": 0.3}
