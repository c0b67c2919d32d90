"""MaTS, merging by matching models in task parameter subspaces (Tam, Bansal & Raffel, TMLR
2024, "Merging by Matching Models in Task Parameter Subspaces").

Each linear layer's K-FAC block Fisher F_i ≈ A_i ⊗ G_i (inputs' Gram A_i, ``(in, in)``;
output log-likelihood gradients' Gram G_i, ``(out, out)``) defines the merge as the solution
of Σ_i λ_i A_i X G_i = Σ_i λ_i A_i X_i G_i with X = Wᵀ, solved by the conjugate gradient
method (the operator is symmetric positive definite in the Frobenius inner product) for a
fixed number of iterations from the λ-weighted average or the task-arithmetic merge. G = I
recovers RegMean. Every other tensor is the λ-weighted average. One layer's factors are on
the device at a time, so device memory stays near one layer's factors per candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from bomerge.merge.base import (
    MergeMethod,
    Options,
    PrepareContext,
    Simplex,
    Values,
    Variable,
    register,
    simplex_weights,
    uniform,
)
from bomerge.merge.regmean import (
    LayerSystem,
    LinearSystemsState,
    candidate_weights,
    collect_layer_factors,
)
from bomerge.merge.weights import weighted_sum
from bomerge.tasks.base import KFAC


class MatsOptions(Options):
    iterations: int = Field(100, gt=0, description="conjugate-gradient iterations (paper: 100)")
    init: Literal["average", "task_arithmetic"] = "average"
    init_scale: float = Field(0.3, ge=0, description="λ of the task-arithmetic start")
    shrinkage: float = Field(1.0, ge=0, le=1, description="α applied to A and G")
    tolerance: float = Field(
        1e-6, ge=0, description="stop CG early at ‖r‖ ≤ tolerance·‖b‖ (float32 precision)"
    )


def conjugate_gradient(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    start: torch.Tensor,
    iterations: int,
    tolerance: float = 0.0,
) -> torch.Tensor:
    """Solve apply(X) = rhs for a symmetric positive definite linear ``apply`` on matrices,
    with the Frobenius inner product, starting at ``start``, for at most ``iterations``
    steps; stops once ‖residual‖ ≤ ``tolerance`` · ‖rhs‖ (steps below the arithmetic's
    precision only walk along noise in ill-conditioned directions)."""
    x = start.clone()
    residual = rhs - apply(x)
    direction = residual.clone()
    rs = (residual * residual).sum()
    stop = float(tolerance**2 * (rhs * rhs).sum())
    for _ in range(iterations):
        if float(rs) <= stop:
            break
        image = apply(direction)
        curvature = (direction * image).sum()
        if float(curvature) <= 0.0:
            break
        step = rs / curvature
        x.add_(direction * step)
        residual.sub_(image * step)
        rs_next = (residual * residual).sum()
        direction.mul_(rs_next / rs).add_(residual)
        rs = rs_next
    return x


def mats_solve(
    grams: torch.Tensor,
    gradients: torch.Tensor,
    products: torch.Tensor,
    weights: np.ndarray,
    start: torch.Tensor,
    iterations: int,
    tolerance: float = 0.0,
) -> torch.Tensor:
    """X solving Σ λ_i A_i X G_i = Σ λ_i B_i with A ``(K, in, in)``, G ``(K, out, out)``,
    B_i = A_i X_i G_i ``(K, in, out)``, by CG from ``start`` ``(in, out)``."""
    lam = torch.as_tensor(weights, dtype=grams.dtype, device=grams.device)[:, None, None]
    # Gradient Grams can be ~1e-8 in size: rescaling both sides by the mean traces keeps
    # float32 CG well inside its range without changing the solution.
    scale_a = torch.einsum("kii->", lam * grams) / grams.shape[-1]
    scale_g = torch.einsum("kii->", lam * gradients) / gradients.shape[-1]
    scale_a = torch.where(scale_a > 0, scale_a, torch.ones_like(scale_a))
    scale_g = torch.where(scale_g > 0, scale_g, torch.ones_like(scale_g))
    weighted_grams = lam * grams / scale_a
    gradients = gradients / scale_g
    rhs = (lam * products).sum(dim=0) / (scale_a * scale_g)

    def apply(x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(weighted_grams, x), gradients).sum(dim=0)

    return conjugate_gradient(apply, rhs, start, iterations, tolerance)


@register
class Mats(MergeMethod):
    name = "mats"
    paper = "Tam, Bansal & Raffel 2024, Merging by Matching Models in Task Parameter Subspaces"
    year = 2024
    statistics = frozenset({KFAC})
    Options = MatsOptions
    options: MatsOptions

    def variables(self, k: int) -> list[Variable]:
        return [Simplex("lambda", k)]

    def grouped_variables(self, k: int) -> frozenset[str]:
        return frozenset({"lambda"})

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"lambda": uniform(k)}

    def prepare(self, context: PrepareContext) -> LinearSystemsState:
        pool = context.pool
        base = context.require_base(self.name) if self.options.init == "task_arithmetic" else None
        layers = []
        for weight, grams, gradients in collect_layer_factors(
            context, self.name, True, self.options.shrinkage
        ):
            assert gradients is not None
            x = candidate_weights(pool, weight)  # (K, in, out)
            products = torch.matmul(torch.matmul(grams, x), gradients)
            layers.append(LayerSystem(weight, grams, gradients, products))
        return LinearSystemsState(pool, layers, base)

    def combine(self, state: LinearSystemsState, values: Values, out: torch.Tensor) -> torch.Tensor:
        pool = state.pool
        lam = simplex_weights(values["lambda"], pool.k, "MaTS λ")
        weighted_sum(pool.stacked, lam, out)
        merged = pool.unflatten(out)
        bases = pool.unflatten(state.base) if state.base is not None else None
        for layer in state.layers:
            if bases is not None:
                base, candidates = bases[layer.weight], pool.parameter(layer.weight)  # (K, out, in)
                scale = self.options.init_scale
                # candidates − base promotes a half pool's weights to the base's float32
                start = (base + scale * (candidates - base).sum(dim=0)).T
            else:
                start = merged[layer.weight].T
            assert layer.gradients is not None
            x = mats_solve(
                layer.grams.to(pool.device), layer.gradients.to(pool.device),
                layer.products.to(pool.device), lam, start.contiguous(), self.options.iterations,
                self.options.tolerance,
            )
            merged[layer.weight].copy_(x.T)
        return out
