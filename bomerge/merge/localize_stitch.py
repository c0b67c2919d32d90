"""Localize-and-Stitch (He et al., 2024, "Localize-and-Stitch: Efficient Model Merging via
Sparse Task Arithmetic").

Localize: each candidate keeps a sparse binary mask m_i over its task vector τ_i = θ_i − θ_0,
restricted to the encoder layers: its top-``sparsity`` fraction of entries by a score. The
data-free variant scores by |τ_i|; the learned variant scores by σ(S_i), mask logits trained
so that θ_0 + σ(S_i) ⊙ τ_i keeps candidate i's loss on statistics rows, with a sparsity
penalty on mean σ(S_i) (S_i starts at +3 on the top-magnitude entries, −3 elsewhere).
Stitch: θ = θ_0 + Σ_i m'_i ⊙ τ_i where, on entries claimed by several masks, each mask is
divided by the number of claimants (overlaps are averaged). Entries outside the encoder
layers (embeddings, pooler, head) are plainly averaged. BO tunes the sparsity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from rich.progress import Progress

from bomerge.errors import BomergeError
from bomerge.merge.base import (
    MergeMethod,
    Options,
    PrepareContext,
    Scalar,
    Values,
    Variable,
    chunks,
    register,
)
from bomerge.merge.cache import cached, row_signature
from bomerge.merge.statistics import StatisticsSource
from bomerge.merge.task_arithmetic import TaskVectorState
from bomerge.merge.ties import top_fraction_thresholds
from bomerge.tasks.base import LOSS

ENCODER_LAYER = re.compile(r"(^|\.)encoder\.layer\.\d+\.")


class LocalizeStitchOptions(Options):
    sparsity: float = Field(0.01, gt=0, le=1, description="fraction of entries per mask")
    mask: Literal["data_free", "learned"] = "data_free"
    scope: Literal["encoder", "all"] = Field("encoder", description="entries masks may claim")
    steps: int = Field(40, gt=0, description="optimiser steps of the learned mask")
    learning_rate: float = Field(0.1, gt=0)
    sparsity_penalty: float = Field(1.0, ge=0, description="weight of mean σ(S)")


def stitch(task_vectors: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Σ_i m_i ⊙ τ_i with overlaps averaged: ``(K, n)`` task vectors and bool masks →
    ``(n,)`` stitched task vector."""
    claims = masks.sum(dim=0).clamp_min(1)
    return torch.where(masks, task_vectors, 0.0).sum(dim=0) / claims


@dataclass
class LocalizeStitchState:
    vectors: TaskVectorState
    eligible: torch.Tensor
    scores: torch.Tensor | None  # (K, P) learned scores; None: data-free |τ_i|


def learn_mask_scores(
    source: StatisticsSource,
    state: TaskVectorState,
    candidate: int,
    eligible: torch.Tensor,
    options: LocalizeStitchOptions,
    show_progress: bool = False,
) -> torch.Tensor:
    """σ(S) ``(P,)`` after ``options.steps`` Adam steps on
    loss(θ_0 + σ(S) ⊙ τ on eligible entries, θ_i elsewhere) + penalty · mean σ(S)."""
    pool, model = state.pool, source.skeleton
    theta = pool.row(candidate)
    tau = theta - state.base
    on = eligible.to(theta.dtype)
    magnitudes = torch.where(eligible, tau.abs(), torch.tensor(-1.0, device=tau.device))
    threshold = top_fraction_thresholds(magnitudes[eligible][None], options.sparsity)[0]
    logits = torch.where(eligible & (magnitudes >= threshold), 3.0, -3.0).requires_grad_(True)
    optimizer = torch.optim.Adam([logits], lr=options.learning_rate)
    buffers = dict(model.named_buffers())
    batches = source.batches
    with Progress(disable=not show_progress, transient=True) as progress:
        bar = progress.add_task(f"learning mask {candidate}", total=options.steps)
        for step in range(options.steps):
            batch = batches[step % len(batches)]
            soft = torch.sigmoid(logits)
            merged = state.base + tau * (soft * on + (1 - on))
            params = pool.unflatten(merged)
            loss = source.task.loss(batch, source.task.forward(model, (params, buffers), batch))
            loss = loss + options.sparsity_penalty * soft[eligible].mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            progress.update(bar, advance=1)
    return torch.sigmoid(logits.detach()) * on


@register
class LocalizeStitch(MergeMethod):
    name = "localize_stitch"
    paper = ("He et al. 2024, Localize-and-Stitch: Efficient Model Merging via Sparse Task "
             "Arithmetic")
    year = 2024
    needs_base = True
    Options = LocalizeStitchOptions
    options: LocalizeStitchOptions

    def needed_statistics(self) -> frozenset[str]:
        return frozenset({LOSS}) if self.options.mask == "learned" else frozenset()

    def variables(self, k: int) -> list[Variable]:
        return [Scalar("sparsity", 0.001, 0.2, log=True)]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return {"sparsity": min(max(self.options.sparsity, 0.001), 0.2)}

    def prepare(self, context: PrepareContext) -> LocalizeStitchState:
        vectors = TaskVectorState.from_context(context, self.name)
        pool = context.pool
        if self.options.scope == "encoder":
            eligible = pool.slot_mask(lambda name: bool(ENCODER_LAYER.search(name)))
            if not bool(eligible.any()):
                raise BomergeError(
                    "localize_stitch: the candidates have no encoder-layer tensors "
                    "(names with 'encoder.layer.N.'); set merge.options.scope: all"
                )
        else:
            eligible = torch.ones(pool.num_values, dtype=torch.bool, device=pool.device)
        eligible &= vectors.known
        scores = None
        if self.options.mask == "learned":
            source = context.require_statistics(self.name)
            rows = []
            for i in range(pool.k):
                own = source.for_candidate(i)  # a cross-task candidate: its own task's rows
                key = {"candidate": row_signature(pool, i), "rows": own.fingerprint,
                       "options": self.options.model_dump()}

                def compute(i: int = i, own: StatisticsSource = own) -> dict[str, torch.Tensor]:
                    return {"scores": learn_mask_scores(own, vectors, i, eligible, self.options,
                                                        context.show_progress)}

                rows.append(cached(context.cache, "mask", key, compute)["scores"].to(pool.device))
            scores = torch.stack(rows)
        return LocalizeStitchState(vectors, eligible, scores)

    def combine(self, state: LocalizeStitchState, values: Values,
                out: torch.Tensor) -> torch.Tensor:
        sparsity = float(values["sparsity"])
        if not 0 < sparsity <= 1:
            raise BomergeError(f"Localize-and-Stitch sparsity {sparsity} is not in (0, 1]")
        stacked, base = state.vectors.pool.stacked, state.vectors.base
        eligible = state.eligible
        score = torch.empty_like(base)
        thresholds = []
        for i in range(stacked.shape[0]):
            if state.scores is None:
                torch.sub(stacked[i], base, out=score).abs_()
            else:
                score.copy_(state.scores[i])
            thresholds.append(top_fraction_thresholds(score[eligible][None], sparsity)[0])
        threshold = torch.stack(thresholds)
        for part in chunks(stacked.shape[1]):
            vectors = stacked[:, part] - base[part]  # a half pool's rows promoted to the base's
            scores = vectors.abs() if state.scores is None else state.scores[:, part]
            masks = (scores >= threshold[:, None]) & eligible[part]
            out[part] = torch.where(eligible[part], base[part] + stitch(vectors, masks),
                                    stacked[:, part].mean(0, dtype=out.dtype))
        return out
