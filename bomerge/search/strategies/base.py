"""What a search strategy is, and the registry that resolves ``search.strategy`` names.

A strategy turns a study's search settings into the Ax ``GenerationStrategy`` that proposes
its trials. It is chosen once, when the study's Ax experiment is created: Ax stores the
generation strategy with the experiment, so a resumed study goes on with the one it began
with. A new strategy (a SAAS-prior GP, say) is one module that subclasses
``SearchStrategy`` (or ``gp.GaussianProcess``) and is decorated with ``@register``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from bomerge.errors import BomergeError

if TYPE_CHECKING:
    from ax.generation_strategy.generation_strategy import GenerationStrategy


@dataclass(frozen=True)
class StrategySettings:
    """The settings every strategy is built from.

    Attributes:
        initial_trials: quasi-random trials before the model-based ones (attached baseline
            arms do not count).
        seed: the seed of the quasi-random points.
        num_restarts: restarts of the acquisition optimiser.
        raw_samples: raw samples seeding those restarts.
        multi_objective: several objectives (a Pareto front) rather than one.
        device: the accelerator the GP is fitted on, when the study runs on one.
    """

    initial_trials: int
    seed: int
    num_restarts: int
    raw_samples: int
    multi_objective: bool = True
    #: where BoTorch fits the GP and optimises the acquisition ("cuda:0"), None: the CPU
    device: str | None = None


def accelerator(device: str) -> str | None:
    """The torch device a study's GP is fitted on: its CUDA device when it has one (BoTorch
    on CUDA tensors), else None (the CPU, Ax's default)."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return None
    return "cuda" if device == "auto" else device


def optimiser_budget(num_restarts: int | str, raw_samples: int | str,
                     dimensions: int) -> tuple[int, int]:
    """The acquisition optimiser's restarts and raw samples; ``"auto"`` scales them with the
    number of searched dimensions d: min(d, 8) restarts and min(32·d, 256) raw samples, at
    least 2 and 64. Below 8 dimensions that is cheaper than the fixed defaults (8, 256) at
    no loss: L-BFGS from d well-spread starts covers a d-dimensional box (the restarts are
    the best of the raw samples by acquisition value); from 8 dimensions up it is the
    defaults."""
    d = max(1, dimensions)
    restarts = num_restarts if isinstance(num_restarts, int) else max(2, min(d, 8))
    raw = raw_samples if isinstance(raw_samples, int) else max(64, min(32 * d, 256))
    return restarts, raw


class SearchStrategy(ABC):
    """A way of proposing trials: ``build(settings)`` is the Ax generation strategy.

    Class attributes:
        name: the registry key used in configs (``search.strategy``, ``outer.strategy``).
        description: one line for help texts.
        max_objectives: the most objectives its acquisition handles in practice (``None``:
            no limit).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    max_objectives: ClassVar[int | None] = None
    #: Whether each generation call needs a seed of its own (``seed_for_call``): a strategy
    #: that draws something at random per call (ParEGO's weights) would otherwise draw the
    #: same thing every time, as Ax's Client re-seeds torch at every call. Such a strategy
    #: also gets a call per trial of a batch, where the others get one call for the whole
    #: batch (``search/batch_generation.py``), so that each trial draws its own.
    reseed_each_call: ClassVar[bool] = False
    #: Whether its surrogate can take the partial scores of trials stopped early (Ax adds
    #: the progression as an input of the GP; ``search.early_stopping``).
    supports_early_stopping: ClassVar[bool] = True

    def seed_for_call(self, seed: int, trials: int) -> int:
        """The client seed of the generation call made when ``trials`` trials exist
        (deterministic, so a resumed study draws what an uninterrupted one would)."""
        if not self.reseed_each_call:
            return seed
        # Both numbers into one seed (not seed + trials: seed 0 at trial n+1 would then
        # repeat seed 1 at trial n, and a study's seeds would share their draws).
        return int(np.random.SeedSequence([seed, trials]).generate_state(1)[0])

    @abstractmethod
    def build(self, settings: StrategySettings) -> GenerationStrategy:
        """The Ax generation strategy of a new experiment."""

    def prepare(self) -> None:  # noqa: B027 - an optional hook, no-op by default
        """Per-process set-up before the first generation call (default: none); called
        for new and resumed studies alike."""


STRATEGIES: dict[str, type[SearchStrategy]] = {}


def register(cls: type[SearchStrategy]) -> type[SearchStrategy]:
    STRATEGIES[cls.name] = cls
    return cls


def get_strategy(name: str) -> SearchStrategy:
    """The registered strategy ``name``.

    Raises:
        BomergeError: no strategy of that name is registered.
    """
    if name not in STRATEGIES:
        raise BomergeError(
            f"unknown search strategy '{name}' (known: {', '.join(sorted(STRATEGIES))})"
        )
    return STRATEGIES[name]()
