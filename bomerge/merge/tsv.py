"""TSV-M, task singular vectors merging (Gargiulo et al., CVPR 2025, "Task Singular Vectors:
Reducing Task Interference in Model Merging", arXiv 2412.00081). Data-free.

Per weight matrix, each task matrix τ_i = U_i Σ_i V_iᵀ keeps its top-k singular triplets,
k = ⌊f · min(out, in) / K⌋ (at least 1), so that at rank fraction f = 1 (the paper's
choice) the K tasks fill the layer's rank together. The kept vectors are concatenated,
U = [U_1,k … U_K,k] ``(out, K·k)`` and V likewise ``(in, K·k)``; interference between tasks
is removed by replacing U and V with their nearest matrices with orthonormal columns
(U⊥ = P Qᵀ from the SVD U = P S Qᵀ, the orthogonal Procrustes solution; V⊥ likewise), and
the merged update is U⊥ diag(Σ_1,k … Σ_K,k) V⊥ᵀ. Every other tensor takes the mean of the
task vectors (the paper's code), and θ = θ_0 + α · update with α = 1 by default.

The rank fraction f is searchable in [0.05, 1] (global, like TIES's density) and α per
group. Each task matrix's SVD is computed once per study; a trial orthogonalises the
concatenations for its f (two thin SVDs per matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field

from bomerge.errors import BomergeError
from bomerge.merge.base import PrepareContext, Scalar, Values, Variable, register
from bomerge.merge.matrices import (
    MatrixOptions,
    ScaledUpdate,
    UpdateState,
    elementwise_update,
    matrix_slots,
    task_matrices,
)
from bomerge.merge.task_arithmetic import TaskVectorState
from bomerge.pool import Slot

MIN_FRACTION = 0.05


class TsvOptions(MatrixOptions):
    rank_fraction: float = Field(1.0, gt=0, le=1, description="f: the share of each layer's "
                                 "rank the K tasks' kept singular vectors fill (paper: 1)")


@dataclass
class TaskSingularVectors:
    """One matrix's per-task top singular triplets, each task's first ``limit`` kept:
    ``u`` ``(K, out, limit)``, ``s`` ``(K, limit)``, ``v`` ``(K, in, limit)``."""

    slot: Slot
    u: torch.Tensor
    s: torch.Tensor
    v: torch.Tensor

    @property
    def rank(self) -> int:
        return min(self.slot.shape)


@dataclass
class TsvParts:
    elementwise: torch.Tensor
    matrices: list[TaskSingularVectors]


def kept_rank(rank: int, k: int, fraction: float) -> int:
    """Singular triplets each of K tasks keeps at rank fraction f: ⌊f · rank / K⌋, ≥ 1."""
    return max(1, int(fraction * rank / k))


def nearest_orthonormal(matrix: torch.Tensor) -> torch.Tensor:
    """P Qᵀ for the thin SVD ``matrix`` = P S Qᵀ: the matrix with orthonormal columns
    nearest to ``matrix`` in Frobenius norm."""
    p, _, qh = torch.linalg.svd(matrix, full_matrices=False)
    return p @ qh


def tsv_matrix(vectors: TaskSingularVectors, kept: int) -> torch.Tensor:
    """The TSV-M update ``(out, in)`` of one matrix with ``kept`` triplets per task."""
    k = vectors.u.shape[0]
    u = vectors.u[:, :, :kept].permute(1, 0, 2).reshape(vectors.u.shape[1], k * kept)
    v = vectors.v[:, :, :kept].permute(1, 0, 2).reshape(vectors.v.shape[1], k * kept)
    s = vectors.s[:, :kept].reshape(-1)
    return (nearest_orthonormal(u) * s) @ nearest_orthonormal(v).T


@register
class TaskSingularVectorsMerge(ScaledUpdate):
    name = "tsv"
    paper = ("Gargiulo et al. 2025, Task Singular Vectors: Reducing Task Interference in "
             "Model Merging")
    year = 2025
    Options = TsvOptions
    options: TsvOptions

    def variables(self, k: int) -> list[Variable]:
        return [Scalar("rank_fraction", MIN_FRACTION, 1.0), *self.scale_variable()]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"rank_fraction": max(self.options.rank_fraction, MIN_FRACTION),
                **super().defaults(k)}

    def prepare(self, context: PrepareContext) -> UpdateState:
        vectors = TaskVectorState.from_context(context, self.name)
        slots = matrix_slots(context, vectors, self.options.matrices)
        k = vectors.pool.k
        matrices = []
        for slot in slots:
            limit = kept_rank(min(slot.shape), k, 1.0)
            u, s, vh = torch.linalg.svd(task_matrices(vectors, slot), full_matrices=False)
            matrices.append(TaskSingularVectors(slot, u[:, :, :limit].contiguous(),
                                                s[:, :limit].contiguous(),
                                                vh[:, :limit, :].transpose(1, 2).contiguous()))
        return UpdateState(vectors, TsvParts(elementwise_update(vectors, slots, "mean"), matrices))

    def update(self, state: UpdateState, values: Values) -> torch.Tensor:
        fraction = float(values["rank_fraction"])
        if not 0 < fraction <= 1:
            raise BomergeError(f"TSV-M rank fraction {fraction} is not in (0, 1]")
        parts: TsvParts = state.parts
        update = parts.elementwise.clone()
        k = state.vectors.pool.k
        for vectors in parts.matrices:
            slot = vectors.slot
            update[slot.offset : slot.offset + slot.numel] = tsv_matrix(
                vectors, kept_rank(vectors.rank, k, fraction)).reshape(-1)
        return update
