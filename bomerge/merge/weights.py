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

from bomerge.errors import BomergeError
from bomerge.merge.base import MergeMethod, Simplex, Values, Variable, register
from bomerge.pool import CandidatePool


def checked_weights(raw: np.ndarray | float, k: int) -> np.ndarray:
    """Weights as a float64 ``(K,)`` array; refuses negative, non-finite or all-zero ones."""
    weights = np.asarray(raw, dtype=np.float64).reshape(-1)
    if weights.shape != (k,):
        raise BomergeError(f"expected {k} merge weights, got {weights.shape[0]}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise BomergeError(f"merge weights {weights.tolist()} are not a valid weighting")
    return weights


@register
class WeightedAverage(MergeMethod):
    name = "weights"
    paper = "Wortsman et al. 2022 (model soups); Jang et al. 2024 (MOBO-SWA)"

    def variables(self, k: int) -> list[Variable]:
        return [Simplex("w", k)]

    def combine(self, state: CandidatePool, values: Values, out: torch.Tensor) -> torch.Tensor:
        """``out`` ← wᵀ S with S the ``(K, P)`` stacked candidates: one matrix-vector
        product, reading K·P values and writing P."""
        weights = checked_weights(values["w"], state.k)
        w = torch.as_tensor(weights / weights.sum(), dtype=state.stacked.dtype, device=state.device)
        return torch.mv(state.stacked.t(), w, out=out)
