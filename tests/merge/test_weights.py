"""bomerge.merge.weights: θ(w) = Σ w_i θ_i as one reduction over the stacked candidates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bomerge.errors import BomergeError
from bomerge.merge import get_method
from bomerge.merge.base import Simplex
from bomerge.pool import CandidatePool


@pytest.fixture(scope="module")
def pool(tiny_candidates):
    return CandidatePool.load(tiny_candidates)


def test_declares_one_simplex_over_the_candidates():
    assert get_method("weights").variables(3) == [Simplex("w", 3)]


def test_one_hot_weights_reproduce_each_candidate_exactly(pool, tiny_candidates):
    method = get_method("weights")
    out = pool.empty_merge_buffer()
    for i, path in enumerate(tiny_candidates):
        merged = pool.unflatten(method.combine(pool, {"w": np.eye(3)[i]}, out))
        for name, tensor in load_file(str(path / "model.safetensors")).items():
            assert torch.equal(merged[name], tensor), name


def test_uniform_weights_equal_the_average_of_the_state_dicts(pool, tiny_candidates):
    states = [load_file(str(p / "model.safetensors")) for p in tiny_candidates]
    merged = pool.unflatten(get_method("weights").combine(pool, {"w": np.ones(3) / 3},
                                                          pool.empty_merge_buffer()))
    for name in states[0]:
        expected = sum(s[name] for s in states) / 3
        torch.testing.assert_close(merged[name], expected, rtol=1e-6, atol=1e-7)


def test_writes_into_the_given_buffer_and_normalises(pool):
    out = pool.empty_merge_buffer()
    result = get_method("weights").combine(pool, {"w": np.array([2.0, 0.0, 2.0])}, out)
    assert result.data_ptr() == out.data_ptr()
    torch.testing.assert_close(out, (pool.stacked[0] + pool.stacked[2]) / 2)


@pytest.mark.parametrize("bad", [[0.0, 0.0, 0.0], [0.5, -0.1, 0.6], [np.nan, 1, 1], [1, 1]])
def test_refuses_weights_that_cannot_be_normalised(pool, bad):
    with pytest.raises(BomergeError, match="weight"):
        get_method("weights").combine(pool, {"w": np.array(bad)}, pool.empty_merge_buffer())


def test_unknown_method_is_named():
    with pytest.raises(BomergeError, match="unknown merge method 'soup'.*weights"):
        get_method("soup")
