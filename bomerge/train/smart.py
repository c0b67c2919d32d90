"""SMART regularisation of fine-tuning (``train.smart``): a smoothness term from adversarially
perturbed input embeddings and a Bregman proximal term against a momentum copy of the model.

Jiang, He, Chen, Liu, Gao and Zhao, "SMART: Robust and Efficient Fine-Tuning for
Pre-trained Natural Language Models through Principled Regularized Optimization", ACL 2020.
The formula, where this departs from MT-DNN's reference code, dropout and the cost per batch:
docs/methods.md, "SMART regularisation".
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bomerge.config.training import SmartConfig
from bomerge.errors import BomergeError
from bomerge.tasks.base import Batch, Task

CATEGORICAL, BERNOULLI, SQUARED = "categorical", "bernoulli", "squared"


def symmetric_kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p‖q) + KL(q‖p) = Σ_c (p_c − q_c)(log p_c − log q_c) of ``(B, C)``
    log-probabilities, averaged over the B rows; a scalar."""
    return ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=-1).mean()


def bernoulli_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """``(B,)`` or ``(B, 1)`` logits z → ``(B, 2)`` log-probabilities (log σ(−z), log σ(z))."""
    z = logits.reshape(-1)
    return torch.stack([nn.functional.logsigmoid(-z), nn.functional.logsigmoid(z)], dim=-1)


def divergence(kind: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """ℓ_s between two outputs of one head for one batch (scalar): the symmetric KL of
    ``(B, C)`` logits (``categorical``) or of ``(B,)`` Bernoulli logits (``bernoulli``),
    or the squared error of ``(B,)`` / ``(B, 1)`` values (``squared``); batch means."""
    if kind == CATEGORICAL:
        return symmetric_kl(a.log_softmax(dim=-1), b.log_softmax(dim=-1))
    if kind == BERNOULLI:
        return symmetric_kl(bernoulli_log_probs(a), bernoulli_log_probs(b))
    return (a.reshape(-1) - b.reshape(-1)).pow(2).mean()


def output_kind(task: Task, batch: Batch, outputs: torch.Tensor) -> str:
    """Which ℓ_s fits the head of ``batch``: squared error for a head whose predictive
    distribution is Gaussian, else a categorical given as C logits per row (outputs
    ``(B, C)``) or, for two classes, as one logit per row (a Bernoulli)."""
    view = task.fisher_view(batch)
    if view.gaussian:
        return SQUARED
    width = outputs.shape[-1] if outputs.dim() == 2 else 1
    if width == view.classes:
        return CATEGORICAL
    if width == 1 and view.classes == 2:
        return BERNOULLI
    raise BomergeError(f"train.smart: head '{batch.head}' of task '{task.name}' gives "
                       f"{width} outputs per row for {view.classes} classes")


def word_embeddings(model: nn.Module) -> nn.Module:
    """The model's input word-embedding module (``get_input_embeddings()``), whose output
    R_s perturbs; refuses a model that has none."""
    getter = getattr(model, "get_input_embeddings", None)
    try:
        module = getter() if callable(getter) else None
    except (NotImplementedError, AttributeError):  # a PreTrainedModel with no base model
        module = None
    if not isinstance(module, nn.Module):
        raise BomergeError(f"train.smart perturbs the input word embeddings, and model "
                           f"{type(model).__name__} has no word-embeddings module "
                           "(get_input_embeddings)")
    return module


class EmbeddingNoise:
    """A forward hook that adds perturbations δ to the word-embedding module's output while
    armed (``run``); disarmed, the module's output is left as it is.

    One forward may embed several sentences (a bi-encoder embeds both of a pair), so call i
    of a pass adds ``deltas[i]``, shaped like that call's ``(B, L, H)`` output; a call with
    no δ yet draws one from N(0, σ²), requiring gradients (the ascent differentiates it).
    """

    def __init__(self, module: nn.Module, sigma: float) -> None:
        self.sigma = sigma
        self.deltas: list[torch.Tensor] | None = None
        self.calls = 0
        self.handle = module.register_forward_hook(self._add)

    def _add(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        if self.deltas is None:
            return None
        if self.calls == len(self.deltas):
            self.deltas.append((torch.randn_like(output) * self.sigma).requires_grad_())
        delta = self.deltas[self.calls]
        self.calls += 1
        return output + delta

    def run(self, deltas: list[torch.Tensor], forward: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``forward()`` with ``deltas`` added (a missing one is drawn and appended)."""
        self.deltas, self.calls = deltas, 0
        try:
            outputs = forward()
        finally:
            self.deltas = None
        if not deltas:
            raise BomergeError("train.smart: the model's forward never ran its word embeddings")
        return outputs

    def remove(self) -> None:
        self.handle.remove()


class Smart:
    """SMART's terms for one model being fine-tuned (see the module docstring): build it
    before the first step (θ̃ = θ_0), add ``objective`` in place of each head's loss and
    call ``after_step`` after every optimiser step."""

    def __init__(self, settings: SmartConfig, task: Task, model: nn.Module) -> None:
        self.settings, self.task, self.model = settings, task, model
        module = word_embeddings(model) if settings.weight > 0 else None
        # θ̃ is copied before the hook exists, so its forward is never perturbed.
        self.momentum_copy = frozen_copy(model) if settings.proximal > 0 else None
        self.noise = EmbeddingNoise(module, settings.sigma) if module is not None else None
        self.kinds: dict[str, str] = {}  # ℓ_s per head, asked of the task once

    def kind(self, batch: Batch, outputs: torch.Tensor) -> str:
        if batch.head not in self.kinds:
            self.kinds[batch.head] = output_kind(self.task, batch, outputs)
        return self.kinds[batch.head]

    def objective(self, batch: Batch, outputs: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        """loss + λ_s·R_s + μ·D of one batch of one head; ``outputs`` are f(x; θ) of the
        forward that gave ``loss`` (reused: the clean forward is not run again)."""
        kind = self.kind(batch, outputs)
        total = loss
        if self.noise is not None:
            total = total + self.settings.weight * self.smoothness(batch, outputs, kind)
        if self.momentum_copy is not None:
            total = total + self.settings.proximal * self.proximity(batch, outputs, kind)
        return total

    # ---- R_s ----------------------------------------------------------------------
    def perturbed(self, batch: Batch, deltas: list[torch.Tensor]) -> torch.Tensor:
        """f(x + δ; θ) of ``batch`` with ``deltas`` (one per sentence embedded; an empty
        list is filled with draws from N(0, σ²))."""
        assert self.noise is not None
        return self.noise.run(deltas, lambda: self.task.forward(self.model, None, batch))

    def ascend(self, batch: Batch, target: torch.Tensor, deltas: list[torch.Tensor],
               kind: str) -> list[torch.Tensor]:
        """One projected ascent step δ ← Π_ε(δ + η·g/‖g‖_∞) on ℓ_s(f(x + δ), target) from
        ``deltas`` (drawn when empty); returns the new, detached deltas."""
        current = [d.detach().requires_grad_() for d in deltas]
        gap = divergence(kind, self.perturbed(batch, current), target)
        grads = torch.autograd.grad(gap, current)
        eps, eta = self.settings.epsilon, self.settings.step_size
        stepped = []
        for delta, grad in zip(current, grads, strict=True):
            rows = tuple(range(1, grad.dim()))  # each row's own (L, H) ∞-norm
            scale = grad.abs().amax(dim=rows, keepdim=True).clamp_min(torch.finfo(grad.dtype).tiny)
            stepped.append((delta + eta * grad / scale).clamp(-eps, eps).detach())
        return stepped

    def smoothness(self, batch: Batch, outputs: torch.Tensor, kind: str) -> torch.Tensor:
        """R_s = ℓ_s(f(x̃; θ), f(x; θ)) at the perturbation the ascent found."""
        deltas: list[torch.Tensor] = []
        target = outputs.detach()  # the ascent moves δ only
        for _ in range(self.settings.steps):
            deltas = self.ascend(batch, target, deltas, kind)
        return divergence(kind, self.perturbed(batch, deltas), outputs)

    # ---- D --------------------------------------------------------------------------
    def proximity(self, batch: Batch, outputs: torch.Tensor, kind: str) -> torch.Tensor:
        """D = ℓ_s(f(x; θ), f(x; θ̃)), θ̃ run without gradients."""
        assert self.momentum_copy is not None
        with torch.no_grad():
            anchor = self.task.forward(self.momentum_copy, None, batch)
        return divergence(kind, outputs, anchor)

    @torch.no_grad()
    def after_step(self) -> None:
        """θ̃ ← (1−β)θ + βθ̃ (the parameters; buffers stay θ_0's)."""
        if self.momentum_copy is None:
            return
        beta = self.settings.momentum
        for trailing, current in zip(self.momentum_copy.parameters(), self.model.parameters(),
                                     strict=True):
            trailing.mul_(beta).add_(current, alpha=1.0 - beta)

    def close(self) -> None:
        """Take the hook off the model (a finished run leaves it as it found it)."""
        if self.noise is not None:
            self.noise.remove()


def frozen_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (same device and training mode) whose parameters take no
    gradients."""
    clone = copy.deepcopy(model)
    for parameter in clone.parameters():
        parameter.requires_grad_(False)
    return clone


def smart_for(settings: SmartConfig | None, task: Task, model: nn.Module) -> Smart | None:
    """The regulariser ``train.smart`` asks for, or None for plain training."""
    return None if settings is None else Smart(settings, task, model)


def batch_objective(task: Task, model: nn.Module, batch: Batch, device: torch.device | str,
                    smart: Smart | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(objective, loss)`` of one batch of one head, run through the model on ``device``:
    its loss with SMART's terms added when ``smart`` is given (else the loss itself), and
    the loss alone (what training logs)."""
    on_device = batch.to(device)
    outputs = task.forward(model, None, on_device)
    loss = task.loss(on_device, outputs)
    return (loss if smart is None else smart.objective(on_device, outputs, loss)), loss
