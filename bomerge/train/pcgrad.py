"""Gradient surgery for training several tasks at once: PCGrad (Yu et al., NeurIPS 2020, "Gradient
Surgery for Multi-Task Learning").

For every task i, its gradient g_i is projected, against each other task j in a random
order, onto the normal plane of g_j whenever the two conflict (g_i · g_j < 0):

    g_i ← g_i − (g_i · g_j) / ‖g_j‖² · g_j

and the update is Σ_i w_i g_i with per-task weights w (e.g. [0.5, 1, 1] to halve the
first head's share). Projections are against the other tasks' *original*
gradients, as in the paper's Algorithm 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def project_conflicting(
    gradients: Sequence[torch.Tensor], generator: torch.Generator | None = None,
    orders: Sequence[Sequence[int]] | None = None,
) -> list[torch.Tensor]:
    """The projected task gradients.

    Args:
        gradients: T flat ``(P,)`` task gradients.
        generator: draws each task's random order of the others.
        orders: the orders to use instead (``orders[i]`` lists the other tasks, for tests).

    Returns:
        T ``(P,)`` tensors; g_i is returned unchanged when it conflicts with no other task.
    """
    count = len(gradients)
    projected = []
    for i in range(count):
        if orders is not None:
            others = [j for j in orders[i] if j != i]
        else:
            permutation = torch.randperm(count, generator=generator).tolist()
            others = [j for j in permutation if j != i]
        g = gradients[i].clone()
        for j in others:
            other = gradients[j]
            dot = torch.dot(g, other)
            if dot < 0:
                g -= dot / torch.dot(other, other).clamp_min(1e-20) * other
        projected.append(g)
    return projected


def pcgrad(
    gradients: Sequence[torch.Tensor], weights: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Σ_i w_i · PCGrad(g)_i: the update direction of one step over every task, ``(P,)``."""
    weights = list(weights) if weights is not None else [1.0] * len(gradients)
    if len(weights) != len(gradients):
        raise ValueError(f"{len(weights)} weights for {len(gradients)} task gradients")
    projected = project_conflicting(gradients, generator)
    total = torch.zeros_like(projected[0])
    for weight, g in zip(weights, projected, strict=True):
        total += weight * g
    return total
