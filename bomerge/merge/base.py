"""What a merge method is: search variables, a prepare step, and a combine step.

A method is declared in one module and registered with ``@register``. Its ``prepare`` runs
once per study (statistics, masks); its ``combine`` runs once per trial and writes the merged
``(P,)`` vector into preallocated storage on the device, with no disk I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from bomerge.errors import BomergeError
from bomerge.pool import CandidatePool


@dataclass(frozen=True)
class Simplex:
    """K non-negative weights that sum to one (one per candidate)."""

    name: str
    size: int


@dataclass(frozen=True)
class Scalar:
    """A real number in ``[low, high]`` (searched on a log scale if ``log``)."""

    name: str
    low: float
    high: float
    log: bool = False


Variable = Simplex | Scalar
Values = Mapping[str, "np.ndarray | float"]


class MergeMethod(ABC):
    """A merge recipe: ``combine(prepare(pool), values)`` is the merged parameter vector.

    Class attributes:
        name: the registry key used in configs (``merge.method``).
        paper: the reference the formula comes from.
    """

    name: ClassVar[str]
    paper: ClassVar[str]

    @abstractmethod
    def variables(self, k: int) -> list[Variable]:
        """The search variables BO tunes for this method, for K = ``k`` candidates."""

    def prepare(self, pool: CandidatePool) -> Any:
        """Per-study state for ``combine`` (default: the pool itself)."""
        return pool

    @abstractmethod
    def combine(self, state: Any, values: Values, out: torch.Tensor) -> torch.Tensor:
        """Write the merged ``(P,)`` vector for ``values`` into ``out`` and return it."""


METHODS: dict[str, type[MergeMethod]] = {}


def register(cls: type[MergeMethod]) -> type[MergeMethod]:
    METHODS[cls.name] = cls
    return cls


def get_method(name: str) -> MergeMethod:
    if name not in METHODS:
        raise BomergeError(
            f"unknown merge method '{name}' (known: {', '.join(sorted(METHODS))})"
        )
    return METHODS[name]()
