"""What a merge method is: options, search variables, a prepare step and a combine step.

A method is declared in one module and registered with ``@register``. Its ``prepare`` runs
once per study (statistics, masks; cached under the study) and returns the state its
``combine`` needs; ``combine`` runs once per trial and writes the merged ``(P,)`` vector
into preallocated storage on the device, with no disk I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from bomerge.errors import BomergeError
from bomerge.pool import CandidatePool

if TYPE_CHECKING:
    from torch import nn

    from bomerge.merge.cache import StatisticsCache
    from bomerge.merge.groups import ParameterGroups
    from bomerge.merge.statistics import StatisticsSource


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


@dataclass(frozen=True)
class Choice:
    """One of ``options`` (an unordered categorical); ``dependents[option]`` names the
    variables that exist only while that option is chosen (a hierarchical space)."""

    name: str
    options: tuple[str, ...]
    dependents: Mapping[str, tuple[str, ...]]


Variable = Simplex | Scalar | Choice
Values = Mapping[str, "np.ndarray | float"]


class Options(BaseModel):
    """A method's fixed settings (``merge.options`` in a config); unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class PrepareContext:
    """What a method's prepare step may use besides the candidates.

    Attributes:
        pool: the K candidates, stacked ``(K, P)`` on the device.
        base: ``(P,)`` pretrained start point θ_0 in the pool's layout (tensors the base
            lacks, such as a new classification head, hold the candidates' mean), or None.
        base_known: ``(P,)`` bool, True where the base supplied the value.
        statistics: a model skeleton and batches of statistics rows, or None.
        model: the candidates' architecture (block-wise merging reads its module
            structure), or None.
        cache: where computed statistics are kept between runs, or None (no caching).
        show_progress: whether long statistics show a progress bar.
        prepare: prepares another method through the study's own store of prepared
            states (so a method chosen per trial shares its statistics with the baseline
            of the same method), or None to prepare it here.
    """

    pool: CandidatePool
    base: torch.Tensor | None = None
    base_known: torch.Tensor | None = None
    statistics: StatisticsSource | None = None
    model: nn.Module | None = None
    cache: StatisticsCache | None = None
    show_progress: bool = False
    prepare: Callable[[MergeMethod], Any] | None = None

    def require_base(self, method: str) -> torch.Tensor:
        if self.base is None:
            raise BomergeError(base_missing_message(method))
        return self.base

    def require_statistics(self, method: str) -> StatisticsSource:
        if self.statistics is None:
            raise BomergeError(f"merge method '{method}' needs statistics rows (merge.statistics)")
        return self.statistics


def base_missing_message(method: str) -> str:
    return (
        f"merge method '{method}' needs a base model: set candidates.base to the pretrained "
        "model the candidates were fine-tuned from ('minilm' or a folder)"
    )


class MergeMethod(ABC):
    """A merge recipe: ``combine(prepare(context), values)`` is the merged parameter vector.

    Class attributes:
        name: the registry key used in configs (``merge.method``).
        paper: the reference the formula comes from.
        year: the year of that paper (the baseline suite runs methods in paper order).
        needs_base: the method works on task vectors τ_i = θ_i − θ_0.
        statistics: the kinds of statistics (``bomerge.tasks.base``: fisher, kfac, loss)
            its prepare step computes on data rows; the task's heads must define them.
        Options: the pydantic schema of ``merge.options``.
    """

    name: ClassVar[str]
    paper: ClassVar[str]
    year: ClassVar[int]
    needs_base: ClassVar[bool] = False
    statistics: ClassVar[frozenset[str]] = frozenset()
    Options: ClassVar[type[Options]] = Options

    def __init__(self, options: Options | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def variables(self, k: int) -> list[Variable]:
        """The search variables BO tunes for this method, for K = ``k`` candidates."""

    @abstractmethod
    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        """The fixed recipe of the method's paper (the method's baseline arm)."""

    def needed_statistics(self) -> frozenset[str]:
        """The statistics kinds prepare computes with the current options."""
        return self.statistics

    def grouped_variables(self, k: int) -> frozenset[str]:
        """The variables a block-wise space copies per parameter group (the coefficients
        over candidates); the others stay global. Empty: no block-wise form."""
        return frozenset()

    def describe(self, values: Values) -> tuple[str, dict[str, Any]]:
        """The method a point of this method's space merges with, and that point's own
        coefficients (a method chosen per trial names the chosen one)."""
        return self.name, dict(values)

    def point_of(self, method: MergeMethod, values: Values, k: int) -> dict[str, Any] | None:
        """The point of this method's search space that merges as ``method`` at ``values``
        (a recipe such as a baseline), or None when no point does."""
        if method.name == self.name and method.options == self.options:
            return dict(values)
        return None

    def member(self, values: Values) -> MergeMethod:
        """The method that merges the point ``values`` (itself; the chosen one when the
        method is chosen per trial)."""
        return self

    def methods(self) -> tuple[MergeMethod, ...]:
        """The methods a study of this method may merge with (itself; every listed method
        when the method is chosen per trial)."""
        return (self,)

    def uses_data(self) -> bool:
        """Whether prepare needs statistics rows with the current options."""
        return bool(self.needed_statistics())

    def prepare(self, context: PrepareContext) -> Any:
        """Per-study state for ``combine`` (default: the pool itself)."""
        return context.pool

    @abstractmethod
    def combine(self, state: Any, values: Values, out: torch.Tensor) -> torch.Tensor:
        """Write the merged ``(P,)`` vector for ``values`` into ``out`` and return it."""

    def combine_groups(self, state: Any, values: Sequence[Values], groups: ParameterGroups,
                       out: torch.Tensor) -> torch.Tensor:
        """Write each group's slices of the merge with that group's ``values`` into ``out``.

        This default runs one whole ``combine`` per group into a scratch vector (any method,
        G times the cost); methods elementwise in the candidates override it with one
        streamed pass over the groups' slices."""
        scratch = torch.empty_like(out)
        for group_values, ranges in zip(values, groups.ranges, strict=True):
            self.combine(state, group_values, scratch)
            for part in ranges:
                out[part] = scratch[part]
        return out


METHODS: dict[str, type[MergeMethod]] = {}


def register(cls: type[MergeMethod]) -> type[MergeMethod]:
    METHODS[cls.name] = cls
    return cls


def method_class(name: str) -> type[MergeMethod]:
    if name not in METHODS:
        raise BomergeError(
            f"unknown merge method '{name}' (known: {', '.join(sorted(METHODS))})"
        )
    return METHODS[name]


def build_method(name: str, options: Mapping[str, Any] | None = None) -> MergeMethod:
    """The registered method ``name`` with its options validated.

    Raises:
        BomergeError: unknown method, or an option key or value the method refuses (named as
            ``merge.options.KEY``).
    """
    cls = method_class(name)
    try:
        parsed = cls.Options.model_validate(dict(options or {}))
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = "merge.options." + ".".join(str(p) for p in item["loc"])
            if item["type"] == "extra_forbidden":
                problems.append(f"unknown key '{key}' for method '{name}'")
            else:
                problems.append(f"key '{key}': {item['msg']} (got {item.get('input')!r})")
        raise BomergeError("; ".join(problems)) from None
    return cls(parsed)


def get_method(name: str) -> MergeMethod:
    """The method ``name`` with default options."""
    return build_method(name)


def uniform(k: int) -> np.ndarray:
    return np.full(k, 1.0 / k)


def simplex_weights(raw: np.ndarray | float, k: int, name: str = "weights") -> np.ndarray:
    """Weights as a float64 ``(K,)`` array summing to one; refuses negative, non-finite or
    all-zero ones."""
    weights = np.asarray(raw, dtype=np.float64).reshape(-1)
    if weights.shape != (k,):
        raise BomergeError(f"expected {k} {name}, got {weights.shape[0]}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        raise BomergeError(f"{name} {weights.tolist()} cannot be normalised to a weighting")
    return weights / weights.sum()


def chunks_of(run: slice, size: int) -> list[slice]:
    """Slices covering ``run`` (a contiguous range of the flat layout) in pieces of ``size``."""
    return [slice(start, min(start + size, run.stop)) for start in range(run.start, run.stop, size)]


def chunks(total: int, size: int = 1 << 22) -> list[slice]:
    """Slices covering ``range(total)`` in pieces of ``size`` values, so elementwise merges
    over (K, P) tensors keep their temporaries at (K, size)."""
    return [slice(start, min(start + size, total)) for start in range(0, total, size)]
