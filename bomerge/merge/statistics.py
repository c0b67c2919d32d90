"""Data statistics of a candidate that merge methods weight parameters by.

* ``fisher_diagonal``: the diagonal Fisher information, from per-example gradients
  (Matena & Raffel 2021, "Merging Models with Fisher-Weighted Averaging").
* ``kfac_factors``: for every linear layer, the Gram matrix of its inputs A and of the
  log-likelihood gradients at its output G, the K-FAC factors of the block Fisher
  F ≈ A ⊗ G (Martens & Grosse 2015) that RegMean (Jin et al. 2023) and MaTS (Tam, Bansal &
  Raffel, TMLR 2024) merge with.

Both run the model with a candidate's parameters swapped in (``functional_call``) on a
``StatisticsSource``: a skeleton with eager attention (so ``torch.func.vmap`` can batch it)
and fixed batches of statistics rows, already on the device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from bomerge.errors import BomergeError
from bomerge.tasks.base import Batch, Task

FisherEstimator = Literal["exact", "sampled", "empirical"]
# Per-example Jacobians of a (C,)-output model hold C·P values per row; this many floats
# (~1 GiB) bounds a vmap chunk.
JACOBIAN_BUDGET = 2.5e8


@dataclass
class StatisticsSource:
    """A model skeleton and the statistics rows, both on the device.

    Attributes:
        skeleton: the candidates' architecture with eager attention, in eval mode.
        batches: statistics rows, padded per batch (``Batch.labels`` are the true labels).
        task: gives each batch's outputs, log-likelihood and Fisher view.
        fingerprint: a hash of the rows and settings, part of every cache key.
        candidate_heads: per candidate, the head whose rows its statistics use (a
            cross-task candidate's own task), or None for every row.
    """

    skeleton: nn.Module
    batches: list[Batch]
    task: Task
    fingerprint: str
    candidate_heads: tuple[str | None, ...] | None = None

    @property
    def n(self) -> int:
        return sum(len(b.labels) for b in self.batches)

    def for_candidate(self, index: int) -> StatisticsSource:
        """The rows candidate ``index``'s statistics are computed on (its own task's rows
        for a cross-task candidate, all rows otherwise)."""
        head = self.candidate_heads[index] if self.candidate_heads is not None else None
        if head is None:
            return self
        batches = [b for b in self.batches if b.head == head]
        if not batches:
            raise BomergeError(f"no statistics rows of task '{head}' (merge.statistics)")
        return StatisticsSource(self.skeleton, batches, self.task,
                                hashlib.sha256(f"{self.fingerprint}:{head}".encode()).hexdigest())


def rows_fingerprint(batches: list[Batch], settings: Mapping[str, object]) -> str:
    digest = hashlib.sha256(repr(sorted(settings.items())).encode())
    for batch in batches:
        for tensor in (batch.input_ids, batch.attention_mask, batch.labels):
            digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def _output_weights(
    outputs: torch.Tensor,
    labels: torch.Tensor,
    gaussian: bool,
    estimator: FisherEstimator,
    samples: int,
    sigma: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """``(B, C)`` weights ω with F = Σ_b Σ_c ω_bc (∂ o_bc / ∂θ)², where o are log-probs
    (classification) or the predicted mean μ (regression, C = 1).

    Classification: exact → p(c|x); sampled → the share of ``samples`` draws y ~ p(y|x)
    that hit c; empirical → one-hot true label. Regression with y ~ N(μ, σ²):
    ∂ log p / ∂θ = (y − μ)/σ² · ∂μ/∂θ, so exact → 1/σ², sampled → mean of (y_s − μ)²/σ⁴
    over draws, empirical → (y − μ)²/σ⁴.
    """
    if gaussian:
        mu = outputs[:, 0]
        if estimator == "exact":
            return torch.full_like(outputs, 1.0 / sigma**2)
        if estimator == "sampled":
            noise = torch.randn((len(mu), samples), generator=generator).to(outputs.device)
            return ((noise * sigma) ** 2).mean(dim=1, keepdim=True) / sigma**4
        return ((labels.to(mu.dtype) - mu) ** 2 / sigma**4)[:, None]
    probs = outputs.exp()
    if estimator == "exact":
        return probs
    if estimator == "sampled":
        draws = torch.multinomial(probs.cpu().double(), samples, replacement=True,
                                  generator=generator)
        counts = torch.zeros(probs.shape, dtype=torch.float64).scatter_add_(
            1, draws, torch.ones_like(draws, dtype=torch.float64)
        )
        return (counts / samples).to(probs)
    return torch.nn.functional.one_hot(labels.long(), probs.shape[1]).to(probs)


def _word_embedding_name(model: nn.Module) -> str | None:
    table = model.get_input_embeddings().weight
    return next((name for name, p in model.named_parameters() if p is table), None)


def _add_row_fisher(
    fisher: torch.Tensor, ids: torch.Tensor, row_grads: torch.Tensor, weights: torch.Tensor
) -> None:
    """Add Σ_b Σ_c ω_bc (∂o_bc/∂E[v])² to ``fisher[v]`` for every vocabulary row v.

    The gradient of an example's output at embedding row v is the sum of the gradients at
    the positions holding token v, so positions are summed per (example, token) before
    squaring. Shapes: ``fisher`` (V, H), ``ids`` (B, L), ``row_grads`` (B, C, L, H),
    ``weights`` (B, C).
    """
    b, c, length, h = row_grads.shape
    vocab = fisher.shape[0]
    example = torch.arange(b, device=ids.device)[:, None].expand(b, length)
    keys, inverse = torch.unique((example * vocab + ids).reshape(-1), return_inverse=True)
    per_position = row_grads.permute(0, 2, 1, 3).reshape(b * length, c, h)
    summed = torch.zeros((len(keys), c, h), dtype=row_grads.dtype, device=row_grads.device)
    summed.index_add_(0, inverse, per_position)
    weighted = torch.einsum("uc,uch->uh", weights[keys // vocab], summed.square())
    fisher.index_add_(0, keys % vocab, weighted)


def fisher_diagonal(
    source: StatisticsSource,
    parameters: Mapping[str, torch.Tensor],
    estimator: FisherEstimator = "exact",
    samples: int = 1,
    sigma: float = 1.0,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Diagonal Fisher F = (1/N) Σ_x E_y[(∇_θ log p(y|x; θ))²] per parameter tensor.

    Gradients are per example (``vmap`` of ``jacrev`` over rows, never of a batch sum, which
    would add cross terms); what one row's outputs are (log-probabilities of a head's
    classes, or a Gaussian mean) is the task's ``fisher_view`` of its batch. The
    word-embedding table is differentiated at the gathered ``(L, H)`` vectors an example
    uses (every sentence of it), not as a dense ``(V, H)`` Jacobian per example (half of
    MiniLM's values, almost all zero for one sentence), and scattered into its rows.
    Returns a dict parameter name → tensor of that parameter's shape.
    """
    model = source.skeleton
    names = [name for name, _ in model.named_parameters()]
    params = {name: parameters[name].detach() for name in names}
    buffers = dict(model.named_buffers())
    word = _word_embedding_name(model)
    table = params.pop(word) if word is not None else None
    total = sum(p.numel() for p in params.values())
    generator = torch.Generator().manual_seed(seed)
    fisher = {name: torch.zeros_like(p) for name, p in params.items()}
    word_fisher = None if table is None else torch.zeros_like(table)
    for batch in source.batches:
        view = source.task.fisher_view(batch)

        def outputs(p: dict[str, torch.Tensor], vectors: tuple, ids: tuple, types: tuple,
                    masks: tuple, view=view) -> torch.Tensor:  # noqa: ANN001 - torch.func closure
            def call(kwargs: dict) -> object:
                return functional_call(model, (p, buffers), args=(), kwargs=kwargs)

            vectors = vectors if vectors is not None else (None,) * len(ids)
            return view.row_outputs(call, tuple(zip(ids, vectors, types, masks, strict=True)))

        chunk = max(1, int(JACOBIAN_BUDGET // (view.classes * total)))
        argnums = (0,) if table is None else (0, 1)
        in_dims = (None, None if table is None else 0, 0, 0, 0)
        per_row_jacobian = vmap(jacrev(outputs, argnums=argnums), in_dims=in_dims)
        per_row_outputs = vmap(outputs, in_dims=in_dims)
        for start in range(0, len(batch.labels), chunk):
            rows = slice(start, start + chunk)
            ids, types, masks = (tuple(seq[part][rows] for seq in view.sequences)
                                 for part in range(3))
            vectors = None if table is None else tuple(table[i] for i in ids)
            args = (vectors, ids, types, masks)
            with torch.no_grad():
                out = per_row_outputs(params, *args)
            weights = _output_weights(out, batch.labels[rows], view.gaussian, estimator, samples,
                                      sigma, generator)
            jacobians = per_row_jacobian(params, *args)
            for name, jac in jacobians[0].items():
                # jac: (B, C, *shape); weights: (B, C)
                fisher[name] += torch.einsum("bc,bc...->...", weights, jac.square())
            if word_fisher is not None:
                # A bi-encoder row's two sentences share the table: their positions are
                # summed per token together, so they are joined before squaring.
                joined = (ids[0], jacobians[1][0]) if len(ids) == 1 else (
                    torch.cat(ids, dim=1), torch.cat(jacobians[1], dim=2))
                _add_row_fisher(word_fisher, *joined, weights)
            del jacobians
    if word is not None:
        fisher[word] = word_fisher
    n = source.n
    return {name: fisher[name] / n for name in names}


def linear_layers(model: nn.Module) -> list[str]:
    """Module names of every ``nn.Linear`` in the model, in order."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]


def kfac_factors(
    source: StatisticsSource,
    parameters: Mapping[str, torch.Tensor],
    gradients: bool = True,
    sigma: float = 1.0,
    layers: list[str] | None = None,
) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """Per linear layer: A = (1/T) Σ_t x_t x_tᵀ ``(in, in)`` and G = (1/T) Σ_t g_t g_tᵀ
    ``(out, out)`` over the T non-padding positions it saw, with g_t the gradient of the
    true-label log-likelihood at the layer's output (None when ``gradients`` is False).

    The loss is the *sum* of per-example log-likelihoods: a position's output only reaches
    its own example's term, so the output gradients are per example without vmap.
    ``layers`` limits the layers (default: every linear layer).
    """
    model = source.skeleton
    layers = linear_layers(model) if layers is None else layers
    modules = dict(model.named_modules())
    buffers = dict(model.named_buffers())
    params = {name: parameters[name].detach() for name, _ in model.named_parameters()}
    sums: dict[str, list] = {name: [None, None, 0] for name in layers}
    token_mask: list[torch.Tensor] = []

    def rows_of(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dim() == 3:  # (B, L, d): keep non-padding positions
            return tensor[token_mask[0]]
        return tensor.reshape(-1, tensor.shape[-1])  # (B, d): pooled rows

    def forward_hook(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            x = rows_of(inputs[0].detach()).double()
            entry = sums[name]
            entry[0] = x.T @ x if entry[0] is None else entry[0] + x.T @ x
            entry[2] += x.shape[0]
            if gradients and output.requires_grad:
                def grad_hook(grad: torch.Tensor) -> None:
                    g = rows_of(grad.detach()).double()
                    entry[1] = g.T @ g if entry[1] is None else entry[1] + g.T @ g
                output.register_hook(grad_hook)
        return hook

    handles = [modules[name].register_forward_hook(forward_hook(name)) for name in layers]
    try:
        for batch in source.batches:
            token_mask[:] = [batch.attention_mask.bool()]
            with torch.set_grad_enabled(gradients):
                inputs = {k: v.requires_grad_(gradients) if gradients else v
                          for k, v in params.items()}
                outputs = source.task.forward(model, (inputs, buffers), batch)
                if gradients:
                    # Only the output-gradient hooks matter; the parameter gradients that
                    # autograd.grad returns are dropped.
                    loglik = source.task.log_likelihood(batch, outputs, sigma)
                    torch.autograd.grad(loglik, list(inputs.values()), allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
        for value in params.values():
            value.requires_grad_(False)
    factors = {}
    for name in layers:
        a_sum, g_sum, count = sums[name]
        if count == 0:
            raise BomergeError(f"layer '{name}' saw no statistics rows")
        a = (a_sum / count).float()
        g = (g_sum / count).float() if g_sum is not None else None
        factors[name] = (a, g)
    return factors
