"""Diagonal Fisher of a multitask model: every head on its own sub-task's rows.

F = (1/N) Σ_x E_y[(∇_θ log p(y|x; θ))²] over the N statistics rows of all sub-tasks, each
row through its own head (Matena & Raffel 2021): SST a 5-way categorical, Quora a
Bernoulli on the paraphrase logit (two classes, log σ(−z) and log σ(z)), and STS a Gaussian
N(μ(x), σ²) around the predicted similarity, with sampled targets y ~ N(μ, σ²) under the
``sampled`` estimator, as in the CS224N report. The expectation over y, the per-example
gradients (``vmap`` of ``jacrev``) and the treatment of the word-embedding table (gradients
at the gathered vectors, scattered into rows; both sentences of a pair) are those of
``bomerge.merge.statistics.fisher_diagonal``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.func import functional_call, jacrev, vmap

from bomerge.merge.statistics import (
    JACOBIAN_BUDGET,
    FisherEstimator,
    StatisticsSource,
    _add_row_fisher,
    _output_weights,
    _word_embedding_name,
    additive_mask,
)
from bomerge.multitask.data import MultitaskSpec, SubTask


def _log_outputs(sub: SubTask, out: torch.Tensor) -> torch.Tensor:
    """``(C,)`` head outputs whose gradients the Fisher weights: log-probabilities of the
    classes, or the Gaussian mean μ for a regression head."""
    if sub.kind == "classification":
        return torch.log_softmax(out, dim=-1)
    if sub.kind == "binary":
        return torch.stack([torch.nn.functional.logsigmoid(-out), torch.nn.functional.logsigmoid(out)])
    return out.reshape(1)


def multitask_fisher_diagonal(
    source: StatisticsSource, parameters: Mapping[str, torch.Tensor],
    estimator: FisherEstimator = "exact", samples: int = 1, sigma: float = 1.0, seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Per parameter tensor, the diagonal Fisher over every sub-task's statistics rows."""
    spec = source.task
    assert isinstance(spec, MultitaskSpec)
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
        sub = spec.subtask(batch.task)  # type: ignore[attr-defined]
        pair = batch.input_ids_b is not None  # type: ignore[attr-defined]

        def outputs(p, vec_a, vec_b, ids_a, types_a, mask_a, ids_b, types_b, mask_b,
                    sub=sub, pair=pair):  # noqa: ANN001 - torch.func closure
            kwargs = {"task": sub.name, "input_ids": None if vec_a is not None else ids_a[None],
                      "inputs_embeds": None if vec_a is None else vec_a[None],
                      "attention_mask": mask_a[None], "token_type_ids": types_a[None],
                      "encoder_mask": additive_mask(mask_a)}
            if pair:
                kwargs.update(input_ids_b=None if vec_b is not None else ids_b[None],
                              inputs_embeds_b=None if vec_b is None else vec_b[None],
                              attention_mask_b=mask_b[None], token_type_ids_b=types_b[None],
                              encoder_mask_b=additive_mask(mask_b))
            out = functional_call(model, (p, buffers), args=(), kwargs=kwargs)[0]
            return _log_outputs(sub, out)

        classes = 1 if sub.kind == "regression" else (2 if sub.kind == "binary" else sub.num_labels)
        chunk = max(1, int(JACOBIAN_BUDGET // (classes * total)))
        argnums = (0,) if table is None else ((0, 1, 2) if pair else (0, 1))
        in_dims = (None, 0, 0 if pair else None, 0, 0, 0, *((0, 0, 0) if pair else (None,) * 3))
        per_row_jacobian = vmap(jacrev(outputs, argnums=argnums), in_dims=in_dims)
        per_row_outputs = vmap(outputs, in_dims=in_dims)
        for start in range(0, len(batch.labels), chunk):
            rows = slice(start, start + chunk)
            ids_a = batch.input_ids[rows]
            ids_b = batch.input_ids_b[rows] if pair else None  # type: ignore[attr-defined]
            vec_a = None if table is None else table[ids_a]
            vec_b = None if table is None or not pair else table[ids_b]
            args = (vec_a, vec_b, ids_a, batch.token_type_ids[rows], batch.attention_mask[rows],
                    ids_b, batch.token_type_ids_b[rows] if pair else None,  # type: ignore[attr-defined]
                    batch.attention_mask_b[rows] if pair else None)  # type: ignore[attr-defined]
            with torch.no_grad():
                out = per_row_outputs(params, *args)
            weights = _output_weights(out, batch.labels[rows], sub, estimator, samples, sigma, generator)  # type: ignore[arg-type]
            jacobians = per_row_jacobian(params, *args)
            for name, jac in jacobians[0].items():
                fisher[name] += torch.einsum("bc,bc...->...", weights, jac.square())
            if word_fisher is not None:
                ids = torch.cat([ids_a, ids_b], dim=1) if pair else ids_a
                grads = torch.cat([jacobians[1], jacobians[2]], dim=2) if pair else jacobians[1]
                _add_row_fisher(word_fisher, ids, grads, weights)
            del jacobians
    if word is not None:
        fisher[word] = word_fisher  # type: ignore[assignment]
    return {name: fisher[name] / source.n for name in names}
