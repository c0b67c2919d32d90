"""bomerge.merge.tsv: TSV-M's kept ranks, its orthogonalisation and the merged update."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomerge.errors import BomergeError
from bomerge.merge import build_method
from bomerge.merge.base import PrepareContext
from bomerge.merge.tsv import kept_rank, nearest_orthonormal
from tests.merge.conftest import toy_pool

torch.manual_seed(0)


def merge(taus: torch.Tensor, base: torch.Tensor, values: dict) -> torch.Tensor:
    pool = toy_pool({"layer.weight": base + taus})
    context = PrepareContext(pool=pool, base=base.reshape(-1).clone(),
                             base_known=torch.ones(base.numel(), dtype=torch.bool))
    method = build_method("tsv")
    out = method.combine(method.prepare(context), values, pool.empty_merge_buffer())
    return pool.unflatten(out)["layer.weight"]


def low_rank(tau: torch.Tensor, rank: int) -> torch.Tensor:
    u, s, vh = torch.linalg.svd(tau)
    return u[:, :rank] @ torch.diag(s[:rank]) @ vh[:rank]


def test_each_task_keeps_its_share_of_the_rank():
    assert kept_rank(768, 8, 1.0) == 96
    assert kept_rank(384, 5, 0.5) == 38
    assert kept_rank(4, 8, 0.1) == 1


def test_the_nearest_orthonormal_matrix_has_orthonormal_columns():
    q = nearest_orthonormal(torch.randn(9, 4, dtype=torch.float64))
    torch.testing.assert_close(q.T @ q, torch.eye(4, dtype=torch.float64))


def test_tasks_in_orthogonal_subspaces_merge_to_the_sum_of_their_low_rank_parts():
    # Task i lives in rows {2i, 2i+1} and columns {2i, 2i+1}: no interference to remove,
    # so TSV-M is the sum of each task's top-(6/3 = 2) approximation (here exact).
    base = torch.randn(6, 6, dtype=torch.float64)
    taus = torch.zeros(3, 6, 6, dtype=torch.float64)
    for i in range(3):
        taus[i, 2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.randn(2, 2, dtype=torch.float64)
    out = merge(taus, base, {"rank_fraction": 1.0, "scale": 0.7})
    torch.testing.assert_close(out, base + 0.7 * taus.sum(0))


def test_overlapping_tasks_are_decorrelated_and_truncated():
    base = torch.randn(8, 8, dtype=torch.float64)
    taus = torch.randn(2, 8, 8, dtype=torch.float64)
    out = merge(taus, base, {"rank_fraction": 0.5, "scale": 1.0}) - base
    # 2 triplets per task (⌊0.5 · 8 / 2⌋): the update has rank 4 and keeps the tasks'
    # singular values, while the plain sum of the truncations would keep their overlap.
    assert torch.linalg.matrix_rank(out) == 4
    kept = torch.cat([torch.linalg.svdvals(t)[:2] for t in taus])
    torch.testing.assert_close(torch.linalg.svdvals(out)[:4].sort().values, kept.sort().values)
    assert not torch.allclose(out, low_rank(taus[0], 2) + low_rank(taus[1], 2))


def test_one_task_at_full_fraction_is_its_own_task_vector():
    base = torch.randn(5, 7, dtype=torch.float64)
    tau = torch.randn(1, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(merge(tau, base, {"rank_fraction": 1.0, "scale": 1.0}),
                               base + tau[0])


def test_defaults_and_a_bad_fraction():
    assert build_method("tsv").defaults(4) == {"rank_fraction": 1.0, "scale": 1.0}
    with pytest.raises(BomergeError, match="rank fraction"):
        merge(torch.randn(2, 4, 4, dtype=torch.float64), torch.zeros(4, 4, dtype=torch.float64),
              {"rank_fraction": 0.0, "scale": 1.0})


def direct_tsv(taus: np.ndarray, fraction: float) -> np.ndarray:
    """TSV-M as the paper writes it, with NumPy: per task the top-k SVD triplets, the
    concatenated U and V replaced by U_u V_uᵀ and U_v V_vᵀ from their own SVDs."""
    k_tasks, rows, cols = taus.shape
    kept = max(1, int(fraction * min(rows, cols) / k_tasks))
    us, ss, vs = [], [], []
    for tau in taus:
        u, s, vt = np.linalg.svd(tau, full_matrices=False)
        us.append(u[:, :kept])
        ss.append(s[:kept])
        vs.append(vt[:kept].T)
    u_all, v_all = np.concatenate(us, axis=1), np.concatenate(vs, axis=1)
    pu, _, qu = np.linalg.svd(u_all, full_matrices=False)
    pv, _, qv = np.linalg.svd(v_all, full_matrices=False)
    return (pu @ qu) @ np.diag(np.concatenate(ss)) @ (pv @ qv).T


@pytest.mark.parametrize("shape", [(12, 9), (8, 15)])
@pytest.mark.parametrize("fraction", [1.0, 0.4])
def test_the_merge_equals_a_direct_implementation_of_the_paper(shape, fraction):
    base = torch.randn(*shape, dtype=torch.float64)
    taus = torch.randn(3, *shape, dtype=torch.float64)
    out = merge(taus, base, {"rank_fraction": fraction, "scale": 0.8})
    expected = base.numpy() + 0.8 * direct_tsv(taus.numpy(), fraction)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-10)
