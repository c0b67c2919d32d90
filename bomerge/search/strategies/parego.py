"""``parego``: Sobol points first, then a GP with qLogNParEGO (qLogNEI for one objective).

ParEGO (Knowles 2006, "ParEGO: A Hybrid Algorithm with On-Line Landscape Approximation for
Expensive Multiobjective Optimization Problems") turns several objectives into one with an
augmented Chebyshev scalarisation under weights drawn at random from the simplex, and
maximises the expected improvement of that scalar; over many generation calls the random
weights spread the proposals along the Pareto front. BoTorch's ``qLogNParEGO`` is the noisy
q-batch form (qNParEGO, Daulton et al. 2020, "Differentiable Expected Hypervolume
Improvement for Parallel Multi-Objective Bayesian Optimization") with the log-EI of Ament
et al. 2023 ("Unexpected Improvements to Expected Improvement").

It exists because qLogNEHVI (``gp``, ``saas``) does not scale in the number of objectives:
its box decomposition of the non-dominated region grows exponentially with them, which is
why Ax's own default gives it up for qLogNParEGO from five objectives (a study scoring many
per-task metrics). A Chebyshev scalarisation grows only linearly with them (one more GP
output each, then the same single-objective log-EI).

What BoTorch and Ax do with the objectives (Ax 1.3.1, BoTorch 0.18.1):

* the weights are drawn from torch's global RNG each time the acquisition function is built,
  which is once per candidate: Ax's ``Client`` generates each trial of a
  ``get_next_trials(max_trials=q)`` batch by a generation call of its own (the earlier ones
  pending);
* but that ``Client`` re-seeds the RNG with its ``random_seed`` at every
  ``get_next_trials``, so with a fixed seed every call draws the same q weight vectors and
  the search keeps optimising the same scalarisations: whoever drives the client must vary
  its seed from call to call (the seed plus the number of trials, say) for the weights to
  roam the simplex;
* each objective is normalised to [0, 1] over the model's posterior means at the observed
  points before it is weighted, so the metrics' scales do not matter;
* Ax passes each objective's direction (minimised metrics are negated) but not the objective
  thresholds: the scalarisation has no reference point, so thresholds do not steer the
  proposals (outcome constraints on other metrics do reach the acquisition, as constraints).

As with ``gp``, the node names and generator settings are stored with every experiment (Ax's
SQL store encodes ``qLogNParEGO`` by name) and must not change for studies that already
exist. Pinning the acquisition class also keeps Ax from silently switching to a feasibility
acquisition when no observed point beats the thresholds.
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
