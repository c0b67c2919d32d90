"""From a merge method's variables to Ax parameters, and back.

Ax's ``Client`` accepts no equality constraints, so a simplex of K weights is encoded with
one of three parametrisations (see NOTES-AX.md for their measured costs):

* ``stick_breaking`` (default): K−1 box parameters z ∈ [0,1]; w_1 = z_1,
  w_i = z_i Π_{j<i}(1−z_j), w_K = Π_j (1−z_j). No constraint, so the acquisition function
  is optimised with L-BFGS-B; every z is a valid weight vector.
* ``normalized``: K box parameters r ∈ [0,1], w = r / Σ r (the MOBO-SWA reference code).
  One redundant dimension; r = 0 everywhere decodes to uniform weights.
* ``constrained``: K−1 free weights with Σ ≤ 1 and the last weight derived. Exact, but the
  linear constraint moves acquisition optimisation to SLSQP (3–5× slower).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bomerge.errors import BomergeError
from bomerge.merge.base import Choice, MergeMethod, Scalar, Simplex, Variable
from bomerge.merge.blockwise import SEPARATOR, Blockwise, blockwise
from bomerge.merge.choice import MethodChoice, configured_method
from bomerge.merge.groups import MODEL, encoder_layer_count, group_names
from bomerge.search.ax_logging import quiet_ax

if TYPE_CHECKING:
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    from bomerge.config import StudyConfig

Encoding = Literal["stick_breaking", "normalized", "constrained"]


@dataclass(frozen=True)
class SearchSpace:
    """The Ax view of a method's variables under one simplex encoding."""

    variables: list[Variable]
    encoding: Encoding = "stick_breaking"

    def parameter_names(self, var: Variable) -> list[str]:
        """The Ax parameters of one variable (a simplex takes several)."""
        if not isinstance(var, Simplex):
            return [var.name]
        n = var.size if self.encoding == "normalized" else var.size - 1
        return [f"{var.name}{i}" for i in range(n)]

    def parameters(self) -> list[RangeParameterConfig | ChoiceParameterConfig]:
        """Ax parameter configs; a ``Choice`` is an unordered choice parameter whose
        options' own variables are its dependents (Ax's hierarchical search space)."""
        quiet_ax()  # Ax is imported only to build a study (reading one decodes without it)
        from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

        by_name = {var.name: var for var in self.variables}
        params: list[RangeParameterConfig | ChoiceParameterConfig] = []
        for var in self.variables:
            if isinstance(var, Choice):
                params.append(ChoiceParameterConfig(
                    name=var.name, values=list(var.options), parameter_type="str",
                    is_ordered=False, dependent_parameters={
                        option: [n for dep in deps for n in self.parameter_names(by_name[dep])]
                        for option, deps in var.dependents.items()}))
            elif isinstance(var, Simplex):
                params += [
                    RangeParameterConfig(name=n, parameter_type="float", bounds=(0.0, 1.0))
                    for n in self.parameter_names(var)
                ]
            else:
                params.append(
                    RangeParameterConfig(
                        name=var.name,
                        parameter_type="float",
                        bounds=(var.low, var.high),
                        scaling="log" if var.log else "linear",
                    )
                )
        return params

    def dimensions(self) -> int:
        """d, the number of Ax parameters the GP models (every option's, for a choice)."""
        return sum(len(self.parameter_names(var)) for var in self.variables)

    def active(self, values: dict[str, Any]) -> list[Variable]:
        """The variables a point has: all of them, less those of the options a ``Choice``
        did not choose (the point's own choice, read from ``values``)."""
        inactive: set[str] = set()
        for var in self.variables:
            if isinstance(var, Choice) and var.name in values:
                inactive |= {dep for option, deps in var.dependents.items()
                             if option != values[var.name] for dep in deps}
        return [var for var in self.variables if var.name not in inactive]

    def constraints(self) -> list[str]:
        """``Σ w ≤ 1`` for each constrained simplex of more than two weights (with two,
        the box bound on the single free weight already is that constraint)."""
        if self.encoding != "constrained":
            return []
        return [
            " + ".join(self.parameter_names(var)) + " <= 1"
            for var in self.variables
            if isinstance(var, Simplex) and var.size > 2
        ]

    def check_point(self, values: dict[str, Any], where: str) -> dict[str, np.ndarray | float]:
        """A user-given point (``search.points[i]``) as method values, or a BomergeError
        naming ``where``, the variable and the value at fault."""
        names = {var.name for var in self.variables}
        unknown = sorted(set(values) - names)
        if unknown:
            raise BomergeError(f"{where}: unknown variable '{unknown[0]}' (this method searches "
                               f"{', '.join(sorted(names))})")
        point: dict[str, Any] = {}
        for var in self.active(values):
            if var.name not in values:
                raise BomergeError(f"{where}: missing variable '{var.name}'")
            value = values[var.name]
            if isinstance(var, Choice):
                if value not in var.options:
                    raise BomergeError(f"{where}.{var.name}: {value!r} is not one of "
                                       f"{', '.join(var.options)}")
                point[var.name] = value
            elif isinstance(var, Simplex):
                if not isinstance(value, list) or len(value) != var.size:
                    raise BomergeError(f"{where}.{var.name}: expected a list of {var.size} "
                                       f"weights (one per candidate), got {value!r}")
                weights = np.asarray(value, dtype=np.float64)
                if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
                    raise BomergeError(f"{where}.{var.name}: {value} cannot be normalised to a "
                                       "weighting (weights must be >= 0 with a positive sum)")
                point[var.name] = weights / weights.sum()
            else:
                if isinstance(value, list) or not var.low <= float(value) <= var.high:
                    raise BomergeError(f"{where}.{var.name}: {value!r} is outside "
                                       f"[{var.low}, {var.high}]")
                point[var.name] = float(value)
        return point

    def decode(self, params: dict[str, Any]) -> dict[str, Any]:
        """Ax parameters → method values (simplex variables as ``(K,)`` weight arrays; a
        choice as the chosen option, and only the chosen option's variables)."""
        values: dict[str, Any] = {}
        for var in self.active(params):
            if isinstance(var, Choice):
                values[var.name] = str(params[var.name])
            elif isinstance(var, Scalar):
                values[var.name] = float(params[var.name])
            else:
                raw = np.array([params[n] for n in self.parameter_names(var)], dtype=np.float64)
                values[var.name] = _decode_simplex(raw, self.encoding, var.size)
        return values

    def encode(self, values: dict[str, Any]) -> dict[str, Any]:
        """Method values → Ax parameters (to attach known points such as baselines)."""
        params: dict[str, Any] = {}
        for var in self.active(values):
            if isinstance(var, Choice):
                params[var.name] = str(values[var.name])
            elif isinstance(var, Scalar):
                params[var.name] = float(values[var.name])  # type: ignore[arg-type]
            else:
                weights = np.asarray(values[var.name], dtype=np.float64)
                raw = _encode_simplex(weights / weights.sum(), self.encoding)
                params.update(zip(self.parameter_names(var), map(float, raw), strict=True))
        return params


def study_method(config: StudyConfig, first_candidate: Path) -> MergeMethod:
    """The study's merge method at its granularity: ``merge.method`` with its options (or
    the choice among the listed methods), each in its block-wise form over the groups of
    ``merge.granularity`` (the layer count read from the first candidate's config)."""
    if config.merge.granularity == MODEL:
        return configured_method(config.merge)
    layers = encoder_layer_count(first_candidate)
    return configured_method(config.merge, lambda m: at_granularity(m, config, layers))


def at_granularity(method: MergeMethod, config: StudyConfig, layers: int) -> MergeMethod:
    """``method`` in the study's ``merge.granularity`` for an encoder of ``layers`` layers
    (itself at model granularity, else its block-wise form)."""
    return blockwise(method, group_names(config.merge.granularity, config.merge.blocks, layers))


def lift_point(method: MergeMethod, values: dict[str, Any], k: int) -> dict[str, Any]:
    """A model-level point of a block-wise study's method as a point of its block space
    (the same coefficients in every group); other points unchanged. A point of a choice
    of methods is lifted in its chosen member's space."""
    if isinstance(method, MethodChoice):
        member = method.member(values)
        return method.with_member(member.name, lift_point(member, method.own_values(values), k))
    if isinstance(method, Blockwise) and not any(SEPARATOR in name for name in values):
        return method.lift(values, k)
    return values


def study_space(config: StudyConfig, method: MergeMethod, k: int) -> SearchSpace:
    """The search space of a study of ``config`` over ``k`` candidates: ``method``'s
    variables under the config's simplex encoding. Every reader of a study's Ax parameters
    (runner, trial workers, records, rebuilds, the preflight) decodes with this one space."""
    return SearchSpace(method.variables(k), config.merge.encoding)


def _decode_simplex(raw: np.ndarray, encoding: Encoding, k: int) -> np.ndarray:
    if encoding == "normalized":
        total = raw.sum()
        return raw / total if total > 0 else np.full(k, 1.0 / k)
    if encoding == "constrained":
        # The derived last weight can come back as -0.0 or -1e-17 from the optimiser.
        weights = np.append(raw, max(0.0, 1.0 - raw.sum()))
        return np.clip(weights, 0.0, None) / np.clip(weights, 0.0, None).sum()
    remaining, weights = 1.0, np.empty(k)
    for i, z in enumerate(np.clip(raw, 0.0, 1.0)):
        weights[i] = remaining * z
        remaining *= 1.0 - z
    weights[k - 1] = remaining
    return weights


def _encode_simplex(weights: np.ndarray, encoding: Encoding) -> np.ndarray:
    if encoding == "normalized":
        return weights / weights.max()
    if encoding == "constrained":
        return weights[:-1]
    raw, remaining = np.zeros(len(weights) - 1), 1.0
    for i in range(len(weights) - 1):
        raw[i] = min(1.0, weights[i] / remaining) if remaining > 1e-12 else 0.0
        remaining -= weights[i]
    return raw
