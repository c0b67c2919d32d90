"""RegMean (Jin et al., ICLR 2023, "Dataless Knowledge Fusion by Merging Weights of Language
Models"), as a special case of MaTS (Tam, Bansal & Raffel, TMLR 2024).

For every linear layer with weight W_i (out × in) and X_i = W_iᵀ, with A_i the Gram matrix
of the layer's inputs on candidate i's statistics rows (``statistics.kfac_factors``):
X = (Σ_i λ_i A_i)⁻¹ Σ_i λ_i A_i X_i, the minimiser of Σ_i λ_i ‖X_in X − X_in X_i‖². Every
other tensor (embeddings, LayerNorm, biases) is the λ-weighted average. λ lies on the simplex
(uniform: the paper's recipe). Optional shrinkage α replaces A by αA + (1 − α) diag(A)
(the paper scales off-diagonal entries; 0.9 is its usual value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field

from bomerge.errors import BomergeError
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
from bomerge.merge.cache import cached, row_signature
from bomerge.merge.statistics import StatisticsSource, kfac_factors, linear_layers
from bomerge.merge.weights import weighted_sum
from bomerge.pool import CandidatePool
from bomerge.tasks.base import KFAC


class RegMeanOptions(Options):
    shrinkage: float = Field(0.9, ge=0, le=1, description="α: off-diagonal scale of A")


def shrink(matrix: torch.Tensor, alpha: float) -> torch.Tensor:
    """α M + (1 − α) diag(M) for ``(..., n, n)`` matrices."""
    if alpha == 1.0:
        return matrix
    diagonal = torch.diag_embed(torch.diagonal(matrix, dim1=-2, dim2=-1))
    return alpha * matrix + (1 - alpha) * diagonal


def regmean_solve(grams: torch.Tensor, products: torch.Tensor, weights: np.ndarray) -> torch.Tensor:
    """X = (Σ λ_i A_i)⁻¹ Σ λ_i A_i X_i for A ``(K, in, in)`` and A_i X_i ``(K, in, out)``."""
    lam = torch.as_tensor(weights, dtype=grams.dtype, device=grams.device)
    lhs = torch.einsum("k,kij->ij", lam, grams)
    rhs = torch.einsum("k,kij->ij", lam, products)
    solution, info = torch.linalg.solve_ex(lhs, rhs)
    if int(info) != 0 or not bool(torch.isfinite(solution).all()):
        # A singular Gram matrix (a dead input dimension): least-squares solution.
        solution = torch.linalg.lstsq(lhs.double(), rhs.double(), driver="gelsd").solution.to(rhs)
    return solution


def candidate_weights(pool: CandidatePool, weight: str) -> torch.Tensor:
    """X_i = W_iᵀ of every candidate, ``(K, in, out)`` in host memory and in the pool's
    ``compute_dtype`` (the Grams' dtype: a half pool's weights are widened before solves)."""
    return pool.parameter(weight).transpose(1, 2).to(device="cpu", dtype=pool.compute_dtype)


@dataclass
class LayerSystem:
    """One linear layer: its weight's slot name and the candidates' factors (host memory):
    ``grams`` A_i ``(K, in, in)``, ``gradients`` G_i ``(K, out, out)`` or None, and
    ``products``: A_i X_i (RegMean) or A_i X_i G_i (MaTS), ``(K, in, out)``."""

    weight: str
    grams: torch.Tensor
    gradients: torch.Tensor | None
    products: torch.Tensor


@dataclass
class LinearSystemsState:
    pool: CandidatePool
    layers: list[LayerSystem]
    base: torch.Tensor | None = None


def collect_layer_factors(
    context: PrepareContext, method: str, with_gradients: bool, alpha: float
) -> list[tuple[str, torch.Tensor, torch.Tensor | None]]:
    """(weight name, A ``(K, in, in)``, G ``(K, out, out)`` or None) per linear layer whose
    weight the candidates hold, each candidate's factors cached under the study."""
    pool, source = context.pool, context.require_statistics(method)
    layers = [name for name in linear_layers(source.skeleton) if f"{name}.weight" in pool.names]
    if not layers:
        raise BomergeError(f"merge method '{method}': the model has no linear layer to merge")
    per_candidate = []
    for i in range(pool.k):
        rows = source.for_candidate(i)
        key = {"candidate": row_signature(pool, i), "rows": rows.fingerprint,
               "gradients": with_gradients}

        def compute(i: int = i, rows: StatisticsSource = rows) -> dict[str, torch.Tensor]:
            factors = kfac_factors(rows, pool.unflatten(pool.row(i)), with_gradients,
                                   layers=layers)
            tensors = {}
            for name, (a, g) in factors.items():
                tensors[f"{name}.A"] = a
                if g is not None:
                    tensors[f"{name}.G"] = g
            return tensors

        kind = "kfac" if with_gradients else "gram"
        per_candidate.append(cached(context.cache, kind, key, compute))
    collected = []
    for name in layers:
        grams = shrink(torch.stack([c[f"{name}.A"].cpu() for c in per_candidate]), alpha)
        gradients = None
        if with_gradients:
            gradients = shrink(torch.stack([c[f"{name}.G"].cpu() for c in per_candidate]), alpha)
        collected.append((f"{name}.weight", grams, gradients))
    return collected


@register
class RegMean(MergeMethod):
    name = "regmean"
    paper = "Jin et al. 2023, Dataless Knowledge Fusion by Merging Weights of Language Models"
    year = 2023
    statistics = frozenset({KFAC})
    Options = RegMeanOptions
    options: RegMeanOptions

    def variables(self, k: int) -> list[Variable]:
        return [Simplex("lambda", k)]

    def grouped_variables(self, k: int) -> frozenset[str]:
        return frozenset({"lambda"})

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"lambda": uniform(k)}

    def prepare(self, context: PrepareContext) -> LinearSystemsState:
        pool = context.pool
        layers = []
        for weight, grams, _ in collect_layer_factors(context, self.name, False,
                                                      self.options.shrinkage):
            x = candidate_weights(pool, weight)  # (K, in, out)
            layers.append(LayerSystem(weight, grams, None, torch.bmm(grams, x)))
        return LinearSystemsState(pool, layers)

    def combine(self, state: LinearSystemsState, values: Values, out: torch.Tensor) -> torch.Tensor:
        pool = state.pool
        lam = simplex_weights(values["lambda"], pool.k, "RegMean λ")
        weighted_sum(pool.stacked, lam, out)
        merged = pool.unflatten(out)
        for layer in state.layers:
            x = regmean_solve(layer.grams.to(pool.device), layer.products.to(pool.device), lam)
            merged[layer.weight].copy_(x.T)
        return out
