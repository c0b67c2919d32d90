"""Weighted averaging of checkpoints: model soups and SWA checkpoint weights.

θ(w) = Σ_i w_i θ_i with w on the simplex. Uniform w is the uniform soup of Wortsman et al.
(2022, "Model soups: averaging weights of multiple fine-tuned models improves accuracy
without increasing inference time") and, for snapshots of one run, stochastic weight
averaging (Izmailov et al., 2018); searching w with multi-objective BO on (selection loss,
selection metric) is MOBO-SWA (Jang et al., 2024).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bomerge.merge.base import (
    MergeMethod,
    Simplex,
    Values,
    Variable,
    chunks,
    chunks_of,
    register,
    simplex_weights,
    uniform,
)
from bomerge.merge.groups import ParameterGroups
from bomerge.pool import CandidatePool


def checked_weights(raw: np.ndarray | float, k: int) -> np.ndarray:
    """Merge weights as a float64 ``(K,)`` array summing to one (see ``simplex_weights``)."""
    return simplex_weights(raw, k, "merge weights")


# Values per chunk of a streamed merge: the chunk's partial sums (4 MiB in float32) stay in
# cache while the K candidate rows stream through, so each value is read from memory once.
CHUNK = 1 << 20
# On a GPU each chunk costs K + 1 kernel launches (~5 µs each) against microseconds of
# memory traffic, so chunks are as large as the L2 cache still holds their partial sums
# (8M float32 values = 32 MiB; A100/H100/H200 have 40-60 MiB of L2).
CUDA_CHUNK = 1 << 23


def chunk_values(device: torch.device) -> int:
    """Values per chunk of a streamed merge on ``device``."""
    return CUDA_CHUNK if device.type == "cuda" else CHUNK


def accumulate(rows: torch.Tensor, weights: list[float], out: torch.Tensor) -> torch.Tensor:
    """``out`` ← Σ_i weights[i] · rows[i] for ``rows`` ``(K, n)`` and ``out`` ``(n,)``,
    computed in ``out``'s dtype (float32 for the rows of a half-precision pool)."""
    if rows.dtype == out.dtype:
        torch.mul(rows[0], weights[0], out=out)
    else:
        # mul(half row, scalar) would round the product to the half type before writing
        # it; the copy widens exactly, so the product is taken in out's dtype. The adds
        # below already promote to out's dtype.
        out.copy_(rows[0]).mul_(weights[0])
    for row, weight in zip(rows[1:], weights[1:], strict=True):
        out.add_(row, alpha=weight)
    return out


def weighted_sum(stacked: torch.Tensor, weights: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """``out`` ← wᵀ S for S ``(K, P)`` and w ``(K,)``, chunk by chunk (``chunk_values``):
    reads K·P values and writes P, near one plain copy of those bytes (a single
    ``torch.mv`` over the transposed matrix measured ~1.6× on CPU; see
    scripts/bench/bench_methods.py)."""
    w = [float(x) for x in weights]
    for part in chunks(stacked.shape[1], chunk_values(stacked.device)):
        accumulate(stacked[:, part], w, out[part])
    return out


@register
class WeightedAverage(MergeMethod):
    name = "weights"
    paper = "Wortsman et al. 2022 (model soups); Jang et al. 2024 (MOBO-SWA)"
    year = 2022

    def variables(self, k: int) -> list[Variable]:
        return [Simplex("w", k)]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"w": uniform(k)}

    def grouped_variables(self, k: int) -> frozenset[str]:
        return frozenset({"w"})

    def combine(self, state: CandidatePool, values: Values, out: torch.Tensor) -> torch.Tensor:
        return weighted_sum(state.stacked, checked_weights(values["w"], state.k), out)

    def combine_groups(self, state: CandidatePool, values: Sequence[Values],
                       groups: ParameterGroups, out: torch.Tensor) -> torch.Tensor:
        """Each group's slices with its own weights, in one streamed pass over the pool."""
        for group_values, ranges in zip(values, groups.ranges, strict=True):
            w = checked_weights(group_values["w"], state.k).tolist()
            for run in ranges:
                for part in chunks_of(run, chunk_values(state.device)):
                    accumulate(state.stacked[:, part], w, out[part])
        return out
