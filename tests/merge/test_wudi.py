"""bomerge.merge.wudi: WUDI merging's interference objective and its Adam solve, against
the paper's formula written out directly."""

from __future__ import annotations

import torch

from bomerge.merge import build_method
from bomerge.merge.base import PrepareContext
from bomerge.merge.wudi import interference, wudi_solve
from tests.merge.conftest import toy_pool

torch.manual_seed(0)


def direct_interference(merged: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    """Σ_i ‖(τ − τ_i) τ_iᵀ‖_F² / ‖τ_i‖_F², term by term."""
    return sum(torch.linalg.matrix_norm((merged - tau) @ tau.T) ** 2 / tau.norm() ** 2
               for tau in taus)


def test_the_interference_equals_the_paper_objective_for_wide_and_tall_matrices():
    for shape in ((3, 5), (7, 4)):
        taus = torch.randn(3, *shape, dtype=torch.float64)
        merged = torch.randn(*shape, dtype=torch.float64)
        torch.testing.assert_close(interference(merged, taus), direct_interference(merged, taus))


def test_the_solve_takes_the_adam_steps_autograd_takes_on_the_paper_objective():
    taus = torch.randn(3, 7, 4, dtype=torch.float64)
    merged = taus.sum(0).clone().requires_grad_(True)
    optimiser = torch.optim.Adam([merged], lr=0.05)
    for _ in range(25):
        optimiser.zero_grad()
        direct_interference(merged, taus).backward()
        optimiser.step()
    torch.testing.assert_close(wudi_solve(taus, 25, 0.05), merged.detach())


def test_a_task_whose_vector_is_zero_adds_no_interference():
    taus = torch.randn(3, 4, 4, dtype=torch.float64)
    taus[1] = 0
    merged = torch.randn(4, 4, dtype=torch.float64)
    torch.testing.assert_close(interference(merged, taus),
                               direct_interference(merged, taus[[0, 2]]))


def test_the_solve_starts_at_the_sum_and_descends_to_the_quadratic_minimum():
    taus = torch.randn(4, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(wudi_solve(taus, 0, 1e-2), taus.sum(0))
    # The objective is quadratic in τ: its minimiser solves τ Σ w_i C_i = Σ w_i τ_i C_i
    # with C_i = τ_iᵀ τ_i and w_i = 1 / ‖τ_i‖².
    weights = 1 / taus.flatten(1).pow(2).sum(1)
    grams = taus.transpose(1, 2) @ taus
    lhs = (weights[:, None, None] * grams).sum(0)
    rhs = (weights[:, None, None] * (taus @ grams)).sum(0)
    best = torch.linalg.solve(lhs.T, rhs.T).T
    solved = wudi_solve(taus, 3000, 1e-2)
    assert interference(solved, taus) < interference(taus.sum(0), taus)
    torch.testing.assert_close(interference(solved, taus), interference(best, taus),
                               rtol=1e-3, atol=1e-6)


def test_wudi_merges_matrices_by_the_solve_and_other_tensors_by_task_arithmetic():
    base = {"layer.weight": torch.randn(6, 5, dtype=torch.float64),
            "layer.bias": torch.randn(6, dtype=torch.float64)}
    taus = {name: 0.1 * torch.randn(3, *t.shape, dtype=torch.float64) for name, t in base.items()}
    pool = toy_pool({name: base[name] + taus[name] for name in base})
    flat_base = torch.cat([base["layer.weight"].reshape(-1), base["layer.bias"]])
    context = PrepareContext(pool=pool, base=flat_base,
                             base_known=torch.ones(36, dtype=torch.bool))
    method = build_method("wudi", {"steps": 50, "learning_rate": 1e-3})
    out = method.combine(method.prepare(context), {"scale": 0.5}, pool.empty_merge_buffer())
    merged = pool.unflatten(out)
    solved = wudi_solve(taus["layer.weight"], 50, 1e-3)
    torch.testing.assert_close(merged["layer.weight"], base["layer.weight"] + 0.5 * solved)
    torch.testing.assert_close(merged["layer.bias"],
                               base["layer.bias"] + 0.5 * taus["layer.bias"].sum(0))


def test_defaults_are_the_papers():
    method = build_method("wudi")
    assert method.defaults(5) == {"scale": 1.0}
    assert (method.options.steps, method.options.learning_rate) == (300, 1e-5)
    assert not method.uses_data()
