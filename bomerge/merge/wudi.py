"""WUDI merging (Cheng et al., ICML 2025, "Whoever Started the Interference Should End It:
Guiding Data-Free Model Merging via Task Vectors", arXiv 2503.08099). Data-free.

The paper shows that the rows of a linear layer's task matrix τ_i ∈ R^{out×in} roughly span
the inputs that layer sees on task i, so the interference a merged update τ causes on task
i is measured by τ_i itself. Per weight matrix it finds

    τ* = argmin_τ Σ_i ‖(τ − τ_i) τ_iᵀ‖_F² / ‖τ_i‖_F²,

started at Σ_i τ_i and optimised by Adam (the paper's code: 300 steps, learning rate 1e-5;
its RoBERTa script uses 2e-5): ``steps`` and ``learning_rate`` are options. Every other
tensor merges by task arithmetic (Σ τ_i), and θ = θ_0 + α τ* with α = 1 (the paper has no
coefficient; α stays searchable). The solve runs once per study, matrix by matrix, and is
cached under the study; a trial is one scaled add.

The objective is quadratic in τ, so each Adam step uses its gradient in closed form (one
matrix product per step, not K; ``wudi_solve``); ``interference`` computes the objective
itself as Σ_i tr(D_i C_i D_iᵀ) / ‖τ_i‖² (D_i = τ − τ_i, C_i = τ_iᵀτ_i) when out > in, the
same number as ‖D_i τ_iᵀ‖² without the ``(out, out)`` products.
"""

from __future__ import annotations

import hashlib

import torch
from pydantic import Field
from rich.progress import Progress

from bomerge.merge.base import PrepareContext, Values, register
from bomerge.merge.cache import cached, row_signature
from bomerge.merge.matrices import (
    MatrixOptions,
    ScaledUpdate,
    UpdateState,
    elementwise_update,
    matrix_slots,
    task_matrices,
)
from bomerge.merge.task_arithmetic import TaskVectorState


class WudiOptions(MatrixOptions):
    steps: int = Field(300, ge=0, description="Adam steps per matrix (paper: 300)")
    learning_rate: float = Field(1e-5, gt=0, description="Adam's learning rate (paper: 1e-5)")


def interference(merged: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    """Σ_i ‖(τ − τ_i) τ_iᵀ‖_F² / ‖τ_i‖_F² for τ ``(out, in)`` and τ_i ``(K, out, in)``
    (tasks whose τ_i is 0 on this matrix cause no interference and are left out)."""
    norms = taus.flatten(1).pow(2).sum(1)
    live = norms > 0
    taus, norms = taus[live], norms[live]
    gap = merged.unsqueeze(0) - taus
    out, inner = taus.shape[1:]
    if out <= inner:
        terms = torch.matmul(gap, taus.transpose(1, 2)).pow(2).flatten(1).sum(1)
    else:
        grams = torch.matmul(taus.transpose(1, 2), taus)
        terms = (torch.matmul(gap, grams) * gap).flatten(1).sum(1)
    return (terms / norms).sum()


def wudi_solve(taus: torch.Tensor, steps: int, learning_rate: float) -> torch.Tensor:
    """The WUDI update of one matrix ``(out, in)``: Adam on ``interference`` from Σ τ_i.

    The objective is quadratic, so its gradient is 2 (τ A − B) with A = Σ_i C_i / ‖τ_i‖²
    ``(in, in)`` and B = Σ_i τ_i C_i / ‖τ_i‖² ``(out, in)``, C_i = τ_iᵀ τ_i, formed once:
    each Adam step is then one ``(out, in) × (in, in)`` product instead of K, and takes
    exactly the steps autograd on ``interference`` would."""
    merged = taus.sum(0).clone().requires_grad_(True)
    norms = taus.flatten(1).pow(2).sum(1)
    live = taus[norms > 0]
    if len(live) == 0:  # no task moved this matrix: nothing interferes
        return merged.detach()
    weighted = torch.matmul(live.transpose(1, 2), live) / norms[norms > 0][:, None, None]
    grams, targets = weighted.sum(0), torch.matmul(live, weighted).sum(0)
    optimiser = torch.optim.Adam([merged], lr=learning_rate)
    for _ in range(steps):
        with torch.no_grad():
            merged.grad = 2 * (merged @ grams - targets)
        optimiser.step()
    return merged.detach()


def _tensor_digest(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:20]


@register
class Wudi(ScaledUpdate):
    name = "wudi"
    paper = ("Cheng et al. 2025, Whoever Started the Interference Should End It: Guiding "
             "Data-Free Model Merging via Task Vectors")
    year = 2025
    Options = WudiOptions
    options: WudiOptions

    def prepare(self, context: PrepareContext) -> UpdateState:
        vectors = TaskVectorState.from_context(context, self.name)
        slots = matrix_slots(context, vectors, self.options.matrices)
        pool = vectors.pool
        key = {"candidates": [row_signature(pool, i) for i in range(pool.k)]
               if all(p.is_dir() for p in pool.paths) else [str(p) for p in pool.paths],
               "base": _tensor_digest(vectors.base), "matrices": [s.name for s in slots],
               "steps": self.options.steps, "learning_rate": self.options.learning_rate}

        def compute() -> dict[str, torch.Tensor]:
            solved = {}
            with Progress(disable=not context.show_progress, transient=True) as progress:
                bar = progress.add_task("WUDI merging", total=len(slots))
                for slot in slots:
                    solved[slot.name] = wudi_solve(task_matrices(vectors, slot),
                                                   self.options.steps, self.options.learning_rate)
                    progress.advance(bar)
            return solved

        solved = cached(context.cache, "wudi", key, compute)
        update = elementwise_update(vectors, slots, "sum")
        for slot in slots:
            update[slot.offset : slot.offset + slot.numel] = (
                solved[slot.name].reshape(-1).to(update)
            )
        return UpdateState(vectors, update)

    def update(self, state: UpdateState, values: Values) -> torch.Tensor:
        return state.parts
