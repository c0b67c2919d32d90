"""bomerge.merge.regmean and mats: per linear layer, X = (Σ λ_i A_i)⁻¹ Σ λ_i A_i X_i
(RegMean) and the CG solution of Σ λ_i A_i X G_i = Σ λ_i A_i X_i G_i (MaTS)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomerge.merge import build_method
from bomerge.merge.base import PrepareContext
from bomerge.merge.mats import conjugate_gradient, mats_solve
from bomerge.merge.regmean import regmean_solve, shrink
from bomerge.pool import CandidatePool

LAMBDA = np.array([0.2, 0.5, 0.3])


def random_spd(k: int, n: int, generator: torch.Generator) -> torch.Tensor:
    m = torch.randn(k, n, n + 3, dtype=torch.float64, generator=generator)
    return m @ m.transpose(1, 2) / n + 0.1 * torch.eye(n, dtype=torch.float64)


def test_regmean_closed_form_equals_mats_cg_with_identity_gradients():
    g = torch.Generator().manual_seed(0)
    grams = random_spd(3, 6, g)
    xs = torch.randn(3, 6, 4, dtype=torch.float64, generator=g)
    closed = regmean_solve(grams, grams @ xs, LAMBDA)
    identity = torch.eye(4, dtype=torch.float64).expand(3, 4, 4)
    start = (torch.as_tensor(LAMBDA)[:, None, None] * xs).sum(0)
    cg = mats_solve(grams, identity, grams @ xs, LAMBDA, start, iterations=100)
    torch.testing.assert_close(cg, closed, rtol=1e-5, atol=1e-5)


def test_mats_cg_on_a_random_spd_system_converges_to_numpy_solve():
    g = torch.Generator().manual_seed(1)
    grams, gradients = random_spd(3, 5, g), random_spd(3, 4, g)
    xs = torch.randn(3, 5, 4, dtype=torch.float64, generator=g)
    products = grams @ xs @ gradients
    # vec(A X G) = (Gᵀ ⊗ A) vec(X) with column-major vec.
    lhs = sum(LAMBDA[i] * np.kron(gradients[i].numpy().T, grams[i].numpy()) for i in range(3))
    rhs = sum(LAMBDA[i] * products[i].numpy() for i in range(3)).reshape(-1, order="F")
    expected = np.linalg.solve(lhs, rhs).reshape(5, 4, order="F")
    x = mats_solve(grams, gradients, products, LAMBDA, torch.zeros(5, 4, dtype=torch.float64), 200)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6, atol=1e-8)


def test_conjugate_gradient_stops_at_an_exact_start():
    matrix = torch.tensor([[2.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    solution = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    out = conjugate_gradient(lambda x: matrix @ x, matrix @ solution, solution, iterations=5)
    torch.testing.assert_close(out, solution)


def test_shrinkage_scales_off_diagonal_entries():
    m = torch.tensor([[2.0, 1.0], [1.0, 4.0]])
    torch.testing.assert_close(shrink(m, 0.5), torch.tensor([[2.0, 0.5], [0.5, 4.0]]))
    assert shrink(m, 1.0) is m


@pytest.fixture(scope="module")
def statistics_context(tiny_candidates, tiny_task):
    from bomerge.merge.statistics import StatisticsSource
    from bomerge.models import classifier_skeleton, load_tokenizer
    from bomerge.tasks import get_task

    task = get_task("sst2")
    rows = task.load_split(tiny_task.data, "train")[:64]
    batches = task.batches(rows, load_tokenizer(tiny_candidates[0]), 24, 16, "cpu")
    source = StatisticsSource(classifier_skeleton(tiny_candidates[0], "eager"), batches, task,
                              "rows")
    pool = CandidatePool.load(tiny_candidates)
    return PrepareContext(pool=pool, statistics=source)


@pytest.mark.parametrize("name", ["regmean", "mats"])
def test_one_hot_lambda_returns_that_candidate(statistics_context, name):
    """RegMean: (A_i)⁻¹ A_i X_i = X_i; MaTS: the system's solution is X_i, and CG started
    from the (one-hot) average starts there."""
    method = build_method(name)
    pool = statistics_context.pool
    state = method.prepare(statistics_context)
    assert len(state.layers) == 2 * 6 + 2  # 6 linears per layer, pooler, classifier
    out = method.combine(state, {"lambda": np.eye(3)[1]}, pool.empty_merge_buffer())
    torch.testing.assert_close(out, pool.stacked[1], rtol=1e-3, atol=2e-4)


def test_regmean_uniform_is_finite_and_differs_from_the_plain_average(statistics_context):
    method = build_method("regmean")
    pool = statistics_context.pool
    out = method.combine(method.prepare(statistics_context), {"lambda": np.ones(3) / 3},
                         pool.empty_merge_buffer())
    average = pool.stacked.mean(0)
    assert torch.isfinite(out).all()
    weight = pool.slots[[s.name for s in pool.slots].index("classifier.weight")]
    span = slice(weight.offset, weight.offset + weight.numel)
    assert not torch.allclose(out[span], average[span])
