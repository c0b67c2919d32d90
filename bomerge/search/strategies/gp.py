"""``gp``: Sobol points first, then a GP with qLogNEHVI (qLogNEI for one objective).

Quasi-random Sobol points first, then BoTorch with qLogNEHVI (Daulton et al. 2021,
"Parallel Bayesian Optimization of Multiple Objectives with Hypervolume Improvement";
Ament et al. 2023, "Unexpected Improvements to Expected Improvement" for the log variant).
Ax's default strategy would silently switch to a feasibility acquisition when no observed
point beats the objective thresholds; pinning the acquisition class prevents that.

Ax stores the node names and generator settings with every experiment, and a resumed study
goes on with what was stored, so these must not change for studies that already exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from bomerge.search.strategies.base import SearchStrategy, StrategySettings, register
from bomerge.search.strategies.kernel import load_acquisition_kernel

if TYPE_CHECKING:
    from ax.generation_strategy.generation_strategy import GenerationNode, GenerationStrategy

SOBOL_NODE = "Sobol"
BO_NODE = "qLogNEHVI"
SINGLE_OBJECTIVE_NODE = "qLogNEI"


@register
class GaussianProcess(SearchStrategy):
    """Sobol for ``initial_trials`` of its own trials, then BoTorch's modular GP with the
    given acquisition-optimiser settings. A strategy that keeps this shape and changes the
    surrogate (a SAAS prior) subclasses it and overrides ``generator_kwargs``."""

    name = "gp"
    description = "Sobol, then a GP with qLogNEHVI (qLogNEI for one objective)"
    # qLogNEHVI partitions the non-dominated region into boxes whose number grows
    # exponentially with the objectives, so past four (where Ax's own default gives it up
    # for qLogNParEGO) a generation call becomes impractically slow: use ``parego``.
    max_objectives: ClassVar[int | None] = 4

    def bo_node(self, multi_objective: bool) -> str:
        return BO_NODE if multi_objective else SINGLE_OBJECTIVE_NODE

    def generator_kwargs(self, multi_objective: bool) -> dict[str, Any]:
        """Keyword arguments of the BoTorch generator (the surrogate and acquisition)."""
        from botorch.acquisition.logei import qLogNoisyExpectedImprovement
        from botorch.acquisition.multi_objective.logei import (
            qLogNoisyExpectedHypervolumeImprovement,
        )

        acquisition = (qLogNoisyExpectedHypervolumeImprovement if multi_objective
                       else qLogNoisyExpectedImprovement)
        return {"botorch_acqf_class": acquisition}

    def build(self, settings: StrategySettings) -> GenerationStrategy:
        from ax.generation_strategy.generation_strategy import GenerationStrategy

        bo_node = self.bo_node(settings.multi_objective)
        return GenerationStrategy(name=f"{SOBOL_NODE}+{bo_node}",
                                  nodes=[sobol_node(settings, bo_node),
                                         self.botorch_node(settings, bo_node)])

    def botorch_node(self, settings: StrategySettings, name: str) -> GenerationNode:
        from ax.adapter.registry import Generators
        from ax.generation_strategy.generation_strategy import GenerationNode
        from ax.generation_strategy.generator_spec import GeneratorSpec

        return GenerationNode(
            name=name,
            generator_specs=[
                GeneratorSpec(
                    generator_enum=Generators.BOTORCH_MODULAR,
                    generator_kwargs=self.generator_kwargs(settings.multi_objective)
                    | on_device(settings.device),
                    generator_gen_kwargs={
                        "model_gen_options": {
                            "optimizer_kwargs": {
                                "num_restarts": settings.num_restarts,
                                "raw_samples": settings.raw_samples,
                            }
                        }
                    },
                )
            ],
            should_deduplicate=True,
        )

    def prepare(self) -> None:
        load_acquisition_kernel()


def on_device(device: str | None) -> dict[str, Any]:
    """Ax's ``torch_device`` keyword: fit and optimise on the accelerator when there is one
    (omitted on the CPU, so a CPU study's stored generation strategy is unchanged)."""
    if device is None:
        return {}
    import torch

    return {"torch_device": torch.device(device)}


def sobol_node(settings: StrategySettings, then: str) -> GenerationNode:
    """Seeded Sobol points until ``initial_trials`` of this node's own trials exist, then
    node ``then``."""
    from ax.adapter.registry import Generators
    from ax.generation_strategy.generation_strategy import GenerationNode
    from ax.generation_strategy.generator_spec import GeneratorSpec
    from ax.generation_strategy.transition_criterion import MinTrials

    return GenerationNode(
        name=SOBOL_NODE,
        generator_specs=[
            GeneratorSpec(generator_enum=Generators.SOBOL, generator_kwargs={"seed": settings.seed})
        ],
        transition_criteria=[
            MinTrials(threshold=settings.initial_trials, transition_to=then,
                      use_all_trials_in_exp=False)
        ],
        should_deduplicate=True,
    )
