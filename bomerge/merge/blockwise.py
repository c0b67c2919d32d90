"""Block-wise merging: a merge method with its own coefficients per parameter group.

For a method whose per-group variables are V (``MergeMethod.grouped_variables``: the weights
of ``weights``, λ of ``fisher``/``regmean``/``mats``, the scale of ``task_arithmetic`` and
``ties``) and groups g = embeddings, block 0 … B−1, head (``bomerge.merge.groups``), the
block-wise method searches one copy of each v ∈ V per group, named ``"{group}__{v}"``, and
keeps the other variables (TIES density, a searched Fisher floor) global:

    θ[g] = combine(values_g)[g],   values_g = {v: values["g__v"] for v ∈ V} ∪ globals.

The model-level point is the special case values_g = values for every g (``lift``), so every
model-level recipe is a point of the block space. Methods that are elementwise in the
candidates write each group's slice in one streamed pass (``combine_groups``); the others
fall back to one full combine per group.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from bomerge.errors import BomergeError
from bomerge.merge.base import MergeMethod, PrepareContext, Values, Variable
from bomerge.merge.groups import MODEL, ParameterGroups, parameter_groups

SEPARATOR = "__"


@dataclass
class BlockwiseState:
    """The inner method's prepared state, the groups of the pool's layout and K."""

    inner: Any
    groups: ParameterGroups
    k: int


class Blockwise(MergeMethod):
    """``inner`` with one set of its grouped variables per group in ``groups``."""

    def __init__(self, inner: MergeMethod, groups: tuple[str, ...]) -> None:
        if not inner.grouped_variables(2):
            raise BomergeError(f"merge method '{inner.name}' has no per-group coefficients; "
                               "use merge.granularity: model")
        super().__init__(inner.options)
        self.inner, self.groups = inner, groups
        self.name, self.paper, self.year = inner.name, inner.paper, inner.year
        self.needs_base = inner.needs_base

    def grouped_variables(self, k: int) -> frozenset[str]:
        return self.inner.grouped_variables(k)

    def needed_statistics(self) -> frozenset[str]:
        return self.inner.needed_statistics()

    def variables(self, k: int) -> list[Variable]:
        grouped = self.inner.grouped_variables(k)
        expanded: list[Variable] = []
        for var in self.inner.variables(k):
            if var.name in grouped:
                expanded += [replace(var, name=f"{g}{SEPARATOR}{var.name}") for g in self.groups]
            else:
                expanded.append(var)
        return expanded

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        return self.lift(self.inner.defaults(k), k)

    def point_of(self, method: MergeMethod, values: Values, k: int) -> dict[str, Any] | None:
        """A recipe of the inner method (model-level, or already per group) as a point of
        the block space."""
        if method.name != self.inner.name or method.options != self.inner.options:
            return None
        if any(SEPARATOR in name for name in values):
            return dict(values)
        return self.lift(values, k)

    def lift(self, values: Values, k: int) -> dict[str, np.ndarray | float]:
        """A model-level point of the inner method as the block point with the same
        coefficients in every group."""
        grouped = self.inner.grouped_variables(k)
        lifted: dict[str, np.ndarray | float] = {}
        for name, value in values.items():
            if name in grouped:
                lifted.update({f"{g}{SEPARATOR}{name}": value for g in self.groups})
            else:
                lifted[name] = value
        return lifted

    def split(self, values: Values, k: int) -> list[dict[str, np.ndarray | float]]:
        """Per group, the inner method's values: that group's copies and the globals."""
        grouped = self.inner.grouped_variables(k)
        shared = {n: v for n, v in values.items() if SEPARATOR not in n}
        return [{**shared, **{name: values[f"{g}{SEPARATOR}{name}"] for name in grouped}}
                for g in self.groups]

    def prepare(self, context: PrepareContext) -> BlockwiseState:
        if context.model is None:
            raise BomergeError("block-wise merging needs the model's structure (its skeleton)")
        groups = parameter_groups(context.model, context.pool, self.groups)
        return BlockwiseState(self.inner.prepare(context), groups, context.pool.k)

    def combine(self, state: BlockwiseState, values: Values, out: torch.Tensor) -> torch.Tensor:
        return self.inner.combine_groups(state.inner, self.split(values, state.k), state.groups,
                                         out)


def blockwise(method: MergeMethod, groups: tuple[str, ...]) -> MergeMethod:
    """``method`` itself at model granularity, else its block-wise form over ``groups``."""
    return method if groups == (MODEL,) else Blockwise(method, groups)
