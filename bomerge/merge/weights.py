"""Weighted averaging of checkpoints: model soups and SWA checkpoint weights.

θ(w) = Σ_i w_i θ_i with w on the simplex. Uniform w is the uniform soup of Wortsman et al.
(2022, "Model soups: averaging weights of multiple fine-tuned models improves accuracy
without increasing inference time") and, for snapshots of one run, stochastic weight
averaging (Izmailov et al., 2018); searching w with multi-objective BO on (dev loss, dev
metric) is MOBO-SWA (Jang et al., 2024).
"""

from __future__ import annotations

import numpy as np
import torch

from bomerge.merge.base import MergeMethod, Simplex, Values, Variable, register, simplex_weights, uniform
from bomerge.pool import CandidatePool


def checked_weights(raw: np.ndarray | float, k: int) -> np.ndarray:
    """Merge weights as a float64 ``(K,)`` array summing to one (see ``simplex_weights``)."""
    return simplex_weights(raw, k, "merge weights")


def weighted_sum(stacked: torch.Tensor, weights: np.ndarray, out: torch.Tensor) -> torch.Tensor:
    """``out`` ← wᵀ S for S ``(K, P)`` and w ``(K,)``: one matrix-vector product that reads
    K·P values and writes P."""
    w = torch.as_tensor(weights, dtype=stacked.dtype, device=stacked.device)
    return torch.mv(stacked.t(), w, out=out)


@register
class WeightedAverage(MergeMethod):
    name = "weights"
    paper = "Wortsman et al. 2022 (model soups); Jang et al. 2024 (MOBO-SWA)"

    def variables(self, k: int) -> list[Variable]:
        return [Simplex("w", k)]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"w": uniform(k)}

    def combine(self, state: CandidatePool, values: Values, out: torch.Tensor) -> torch.Tensor:
        return weighted_sum(state.stacked, checked_weights(values["w"], state.k), out)
