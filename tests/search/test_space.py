"""bomerge.search.space: every encoding maps Ax points to valid simplex weights."""

from __future__ import annotations

import numpy as np
import pytest

from bomerge.errors import BomergeError
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
        w = space.decode(dict(zip(names, raw, strict=False)))["w"]
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


def test_a_choice_of_methods_is_a_hierarchical_ax_space():
    from ax.api.configs import ChoiceParameterConfig

    from bomerge.merge import build_method
    from bomerge.merge.choice import MethodChoice

    method = MethodChoice([build_method("regmean"), build_method("ties")])
    space = SearchSpace(method.variables(3))
    choice = space.parameters()[0]
    assert isinstance(choice, ChoiceParameterConfig) and choice.is_ordered is False
    # a simplex member's dependents are its encoded box parameters
    assert choice.dependent_parameters == {"regmean": ["regmean:lambda0", "regmean:lambda1"],
                                           "ties": ["ties:density", "ties:lambda"]}
    point = {"method": "regmean", "regmean:lambda": np.array([0.2, 0.3, 0.5])}
    params = space.encode(point)
    assert set(params) == {"method", "regmean:lambda0", "regmean:lambda1"}
    decoded = space.decode(params)
    assert decoded["method"] == "regmean" and set(decoded) == {"method", "regmean:lambda"}
    np.testing.assert_allclose(decoded["regmean:lambda"], [0.2, 0.3, 0.5])
    # a user's point names the method and that method's variables only
    checked = space.check_point({"method": "ties", "ties:density": 0.3, "ties:lambda": 1.0}, "p")
    assert checked == {"method": "ties", "ties:density": 0.3, "ties:lambda": 1.0}
    with pytest.raises(BomergeError, match="missing variable 'ties:lambda'"):
        space.check_point({"method": "ties", "ties:density": 0.3}, "p")
    with pytest.raises(BomergeError, match="'mats' is not one of regmean, ties"):
        space.check_point({"method": "mats"}, "p")
