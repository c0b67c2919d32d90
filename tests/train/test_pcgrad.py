"""bomerge.train.pcgrad: conflicting task gradients are projected onto each other's normal
plane (Yu et al. 2020), and the update is their weighted sum."""

from __future__ import annotations

import pytest
import torch

from bomerge.train.pcgrad import pcgrad, project_conflicting


def test_two_conflicting_gradients_are_projected_onto_each_others_normal_plane():
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # g1 · g2 = −1 < 0
    p1, p2 = project_conflicting([g1, g2])
    # g1 − (g1·g2)/‖g2‖² g2 = (1, 0) + ½ (−1, 1); g2 − (g2·g1)/‖g1‖² g1 = (−1, 1) + (1, 0)
    assert torch.allclose(p1, torch.tensor([0.5, 0.5]))
    assert torch.allclose(p2, torch.tensor([0.0, 1.0]))
    assert torch.dot(p1, g2) >= -1e-7 and torch.dot(p2, g1) >= -1e-7
    assert torch.dot(p1, p2) >= 0


def test_gradients_that_do_not_conflict_are_left_unchanged():
    g1, g2 = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.5, 0.0, 3.0])
    p1, p2 = project_conflicting([g1, g2])
    assert torch.equal(p1, g1) and torch.equal(p2, g2)


def test_three_tasks_follow_the_formula_in_the_given_order():
    g = [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-1.0, 1.0, 0.0]),
         torch.tensor([-1.0, -1.0, 1.0])]
    orders = [[1, 2], [2, 0], [0, 1]]
    projected = project_conflicting(g, orders=orders)

    def project(x, onto):
        dot = torch.dot(x, onto)
        return x - dot / torch.dot(onto, onto) * onto if dot < 0 else x

    for i, order in enumerate(orders):
        expected = g[i].clone()
        for j in order:
            expected = project(expected, g[j])
        assert torch.allclose(projected[i], expected)
    # No projected gradient conflicts with the last task it was projected against.
    for i, order in enumerate(orders):
        assert torch.dot(projected[i], g[order[-1]]) >= -1e-6


def test_the_update_is_the_weighted_sum_of_the_projected_gradients():
    g = [torch.randn(50, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    weights = [0.5, 1.0, 1.0]
    generator = torch.Generator().manual_seed(3)
    update = pcgrad(g, weights, torch.Generator().manual_seed(3))
    expected = sum(w * p for w, p in zip(weights, project_conflicting(g, generator), strict=False))
    assert torch.allclose(update, expected)
    with pytest.raises(ValueError, match="2 weights for 3"):
        pcgrad(g, [1.0, 1.0])
