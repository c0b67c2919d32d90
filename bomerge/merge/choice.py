"""The merge method itself as a search variable: ``merge.method: [ties, wudi, mats, ...]``.

In cross-task merging the method decides more than its coefficients, so a study may search
a mixed, hierarchical space: a categorical ``method`` and, under each choice, that method's
own variables, named ``"{method}:{variable}"`` (``ties:density``, ``mats:lambda0``, …) and
active only while it is chosen. Ax represents this as a hierarchical search space (a choice
parameter with dependents): a trial's arm holds the choice and the chosen method's
variables only, and for the GP Ax flattens the space (an inactive variable takes its
value from the point's full parameterisation, or the middle of its range) with the method
as an unordered categorical input (a mixed-input GP).

Each member is prepared the first time a trial chooses it, through the study's store of
prepared states (``PrepareContext.prepare``), so a method's statistics (Fisher, Gram,
K-FAC) are computed once, lazily, cached as for any study, and shared with that method's
baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bomerge.errors import BomergeError
from bomerge.merge.base import (
    Choice,
    MergeMethod,
    Options,
    PrepareContext,
    Values,
    Variable,
    build_method,
)

if TYPE_CHECKING:
    from bomerge.config import MergeConfig

#: The name of the choice variable and the separator of a member's variable names.
CHOICE = "method"
SEPARATOR = ":"


@dataclass
class ChoiceState:
    """Each member's prepared state, made on first use."""

    prepare: Callable[[MergeMethod], Any]
    states: dict[str, Any] = field(default_factory=dict)

    def of(self, member: MergeMethod) -> Any:
        if member.name not in self.states:
            self.states[member.name] = self.prepare(member)
        return self.states[member.name]


class MethodChoice(MergeMethod):
    """One of ``members`` per trial, with that member's variables (see the module text)."""

    paper = "the study's members (each with its own paper)"
    year = 0

    def __init__(self, members: Sequence[MergeMethod]) -> None:
        names = [m.name for m in members]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise BomergeError(f"merge.method lists '{repeated[0]}' twice")
        if len(members) < 2:
            raise BomergeError("merge.method: a list of methods needs at least two")
        super().__init__(Options())
        self.members = {m.name: m for m in members}
        self.name = "choice(" + ",".join(names) + ")"
        self.needs_base = any(m.needs_base for m in members)

    def methods(self) -> tuple[MergeMethod, ...]:
        return tuple(self.members.values())

    def member(self, values: Values) -> MergeMethod:
        name = str(values[CHOICE])
        if name not in self.members:
            raise BomergeError(f"method '{name}' is not one of this study's "
                               f"({', '.join(self.members)})")
        return self.members[name]

    def needed_statistics(self) -> frozenset[str]:
        return frozenset().union(*(m.needed_statistics() for m in self.members.values()))

    def variables(self, k: int) -> list[Variable]:
        own = {name: [replace(v, name=f"{name}{SEPARATOR}{v.name}") for v in m.variables(k)]
               for name, m in self.members.items()}
        choice = Choice(CHOICE, tuple(self.members),
                        {name: tuple(v.name for v in found) for name, found in own.items()})
        return [choice, *(v for found in own.values() for v in found)]

    def defaults(self, k: int) -> dict[str, np.ndarray | float]:
        first = next(iter(self.members.values()))
        return self.with_member(first.name, first.defaults(k))

    def with_member(self, name: str, values: Values) -> dict[str, Any]:
        """Member ``name``'s point ``values`` as a point of the choice space."""
        return {CHOICE: name, **{f"{name}{SEPARATOR}{k}": v for k, v in values.items()}}

    def own_values(self, values: Values) -> dict[str, Any]:
        """The chosen member's values under its own names."""
        prefix = f"{values[CHOICE]}{SEPARATOR}"
        return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}

    def describe(self, values: Values) -> tuple[str, dict[str, Any]]:
        return self.member(values).describe(self.own_values(values))

    def point_of(self, method: MergeMethod, values: Values, k: int) -> dict[str, Any] | None:
        for name, member in self.members.items():
            point = member.point_of(method, values, k)
            if point is not None:
                return self.with_member(name, point)
        return None

    def prepare(self, context: PrepareContext) -> ChoiceState:
        return ChoiceState(context.prepare or (lambda member: member.prepare(context)))

    def combine(self, state: ChoiceState, values: Values, out: torch.Tensor) -> torch.Tensor:
        member = self.member(values)
        return member.combine(state.of(member), self.own_values(values), out)


def configured_method(merge: MergeConfig,
                      shape: Callable[[MergeMethod], MergeMethod] = lambda m: m) -> MergeMethod:
    """A config's ``merge.method`` with its options: the method, or the choice among the
    listed ones; ``shape`` puts each at the study's granularity."""
    members = [shape(build_method(name, merge.options_for(name))) for name in merge.methods]
    return members[0] if len(members) == 1 else MethodChoice(members)
