"""bomerge.merge.dare: DARE before task arithmetic and TIES, against a direct
implementation of drop-and-rescale on hand-built task vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomerge.errors import BomergeError
from bomerge.merge import build_method
from bomerge.merge.base import PrepareContext
from bomerge.merge.blockwise import blockwise
from bomerge.merge.dare import drop_field
from bomerge.merge.groups import ParameterGroups
from bomerge.merge.ties import ties_merge_vectors, top_fraction_thresholds
from tests.merge.conftest import toy_pool

torch.manual_seed(0)
BASE = torch.randn(200, dtype=torch.float64)
TAUS = torch.randn(3, 200, dtype=torch.float64)


def context(known: torch.Tensor | None = None) -> PrepareContext:
    return PrepareContext(pool=toy_pool({"w": BASE + TAUS}), base=BASE.clone(),
                          base_known=torch.ones(200, dtype=torch.bool) if known is None else known)


def direct_dare(rate: float, seed: int = 0) -> torch.Tensor:
    """DARE by its definition: each entry of τ_i kept where the study's field u_ij ≥ p,
    the survivors divided by 1 − p."""
    field = drop_field(3, 200, seed, torch.device("cpu"))
    return torch.where(field >= rate, TAUS / (1 - rate), 0.0)


def merge(name: str, values: dict, ctx: PrepareContext | None = None, **options) -> torch.Tensor:
    method = build_method(name, options)
    ctx = ctx or context()
    return method.combine(method.prepare(ctx), values, ctx.pool.empty_merge_buffer())


def test_the_drop_field_is_seeded_per_candidate_and_uniform():
    field = drop_field(3, 20000, 7, torch.device("cpu"))
    assert torch.equal(field, drop_field(3, 20000, 7, torch.device("cpu")))
    assert not torch.equal(field, drop_field(3, 20000, 8, torch.device("cpu")))
    assert not torch.equal(field[0], field[1])
    assert abs(float((field >= 0.3).double().mean()) - 0.7) < 0.02


def test_dare_task_arithmetic_is_task_arithmetic_of_the_dropped_rescaled_vectors():
    out = merge("dare_task_arithmetic", {"drop_rate": 0.4, "lambda": 0.3})
    torch.testing.assert_close(out, BASE + 0.3 * direct_dare(0.4).sum(0))


def test_dare_per_candidate_scales_and_no_drop_is_plain_task_arithmetic():
    values = {"drop_rate": 0.6, "lambda_0": 0.2, "lambda_1": 0.0, "lambda_2": 1.0}
    out = merge("dare_task_arithmetic", values, per_candidate=True)
    dropped = direct_dare(0.6)
    torch.testing.assert_close(out, BASE + 0.2 * dropped[0] + dropped[2])
    plain = merge("task_arithmetic", {"lambda": 0.5})
    torch.testing.assert_close(merge("dare_task_arithmetic", {"drop_rate": 0.0, "lambda": 0.5}),
                               plain)


def test_a_trial_is_reproducible_and_the_seed_changes_the_drops():
    values = {"drop_rate": 0.5, "lambda": 0.3}
    assert torch.equal(merge("dare_task_arithmetic", values), merge("dare_task_arithmetic", values))
    assert not torch.equal(merge("dare_task_arithmetic", values),
                           merge("dare_task_arithmetic", values, seed=1))


def test_dare_ties_trims_elects_and_merges_the_dropped_vectors():
    dropped = direct_dare(0.3)
    thresholds = top_fraction_thresholds(dropped.abs(), 0.4)
    expected = BASE + 0.8 * ties_merge_vectors(dropped, thresholds)
    out = merge("dare_ties", {"drop_rate": 0.3, "density": 0.4, "lambda": 0.8})
    torch.testing.assert_close(out, expected)


def test_entries_the_base_does_not_supply_are_not_dropped():
    known = torch.ones(200, dtype=torch.bool)
    known[150:] = False
    out = merge("dare_task_arithmetic", {"drop_rate": 0.9, "lambda": 0.5}, context(known))
    torch.testing.assert_close(out[150:], BASE[150:] + 0.5 * TAUS[:, 150:].sum(0))
    ties = merge("dare_ties", {"drop_rate": 0.9, "density": 0.5, "lambda": 1.0}, context(known))
    torch.testing.assert_close(ties[150:], (BASE + TAUS)[:, 150:].mean(0))


def test_block_wise_lambdas_scale_each_group_and_share_the_drops():
    method = build_method("dare_task_arithmetic")
    groups = ParameterGroups(("a", "b"), ((slice(0, 120),), (slice(120, 200),)), {})
    ctx = context()
    state = method.prepare(ctx)
    out = method.combine_groups(state, [{"drop_rate": 0.5, "lambda": 0.2},
                                        {"drop_rate": 0.5, "lambda": 0.7}], groups,
                                ctx.pool.empty_merge_buffer())
    dropped = direct_dare(0.5).sum(0)
    torch.testing.assert_close(out[:120], BASE[:120] + 0.2 * dropped[:120])
    torch.testing.assert_close(out[120:], BASE[120:] + 0.7 * dropped[120:])
    assert "drop_rate" in {v.name for v in blockwise(method, ("a", "b")).variables(3)}


def test_paper_defaults_and_bad_rates():
    assert build_method("dare_ties").defaults(3) == {"drop_rate": 0.5, "density": 0.2,
                                                     "lambda": 1.0}
    assert np.isclose(build_method("dare_task_arithmetic").defaults(3)["lambda"], 0.3)
    with pytest.raises(BomergeError, match="drop_rate"):
        build_method("dare_ties", {"drop_rate": 1.0})
    with pytest.raises(BomergeError, match="not in"):
        merge("dare_task_arithmetic", {"drop_rate": 1.0, "lambda": 0.3})
