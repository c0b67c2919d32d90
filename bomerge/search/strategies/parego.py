"""``parego``: Sobol points first, then a GP with qLogNParEGO (qLogNEI for one objective).

ParEGO (Knowles 2006) with BoTorch's noisy q-batch log-EI form (Daulton et al. 2020; Ament
et al. 2023): random augmented Chebyshev scalarisations, which scale to many objectives where
qLogNEHVI does not. What BoTorch and Ax do with the objectives and seeds, and why the node
names must not change: docs/methods.md, "The parego search strategy".
"""

from __future__ import annotations

from typing import Any, ClassVar

from bomerge.search.strategies.base import register
from bomerge.search.strategies.gp import SINGLE_OBJECTIVE_NODE, GaussianProcess

BO_NODE = "qLogNParEGO"


@register
class Parego(GaussianProcess):
    """Sobol for ``initial_trials`` of its own trials, then BoTorch's modular GP with
    qLogNParEGO: a random augmented-Chebyshev scalarisation of the objectives per candidate,
    for any number of objectives. For one objective it is ``gp``'s qLogNEI (same node
    name, same settings)."""

    name = "parego"
    description = ("Sobol, then a GP with qLogNParEGO (random Chebyshev scalarisations; "
                   "for many objectives), qLogNEI for one objective")
    max_objectives: ClassVar[int | None] = None
    reseed_each_call: ClassVar[bool] = True

    def bo_node(self, multi_objective: bool) -> str:
        return BO_NODE if multi_objective else SINGLE_OBJECTIVE_NODE

    def generator_kwargs(self, multi_objective: bool) -> dict[str, Any]:
        if not multi_objective:
            return super().generator_kwargs(multi_objective)
        from botorch.acquisition.multi_objective.parego import qLogNParEGO

        return {"botorch_acqf_class": qLogNParEGO}

    def prepare(self) -> None:
        """Nothing to load: BoTorch's fused kernel (which ``gp`` builds here) serves only the
        hypervolume acquisitions, never qLogNParEGO or qLogNEI."""


__all__ = ["BO_NODE", "Parego"]
