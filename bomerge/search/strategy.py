"""The generation strategy of every study, pinned explicitly.

Quasi-random Sobol points first, then BoTorch with qLogNEHVI (Daulton et al. 2021,
"Parallel Bayesian Optimization of Multiple Objectives with Hypervolume Improvement";
Ament et al. 2023, "Unexpected Improvements to Expected Improvement" for the log variant).
Ax's default strategy would silently switch to a feasibility acquisition when no observed
point beats the objective thresholds; pinning the acquisition class prevents that.
"""

from __future__ import annotations

from bomerge.search.axlog import quiet_ax

quiet_ax()

from ax.adapter.registry import Generators  # noqa: E402
from ax.generation_strategy.generation_strategy import (  # noqa: E402
    GenerationNode,
    GenerationStrategy,
)
from ax.generation_strategy.generator_spec import GeneratorSpec  # noqa: E402
from ax.generation_strategy.transition_criterion import MinTrials  # noqa: E402
from botorch.acquisition.multi_objective.logei import (  # noqa: E402
    qLogNoisyExpectedHypervolumeImprovement,
)

SOBOL_NODE = "Sobol"
BO_NODE = "qLogNEHVI"


def pinned_strategy(
    initial_trials: int, seed: int, num_restarts: int, raw_samples: int
) -> GenerationStrategy:
    """Sobol for ``initial_trials`` of its own trials (attached baseline arms do not count),
    then qLogNEHVI with the given acquisition-optimiser settings."""
    sobol = GenerationNode(
        name=SOBOL_NODE,
        generator_specs=[
            GeneratorSpec(generator_enum=Generators.SOBOL, generator_kwargs={"seed": seed})
        ],
        transition_criteria=[
            MinTrials(threshold=initial_trials, transition_to=BO_NODE, use_all_trials_in_exp=False)
        ],
        should_deduplicate=True,
    )
    botorch = GenerationNode(
        name=BO_NODE,
        generator_specs=[
            GeneratorSpec(
                generator_enum=Generators.BOTORCH_MODULAR,
                generator_kwargs={"botorch_acqf_class": qLogNoisyExpectedHypervolumeImprovement},
                generator_gen_kwargs={
                    "model_gen_options": {
                        "optimizer_kwargs": {
                            "num_restarts": num_restarts,
                            "raw_samples": raw_samples,
                        }
                    }
                },
            )
        ],
        should_deduplicate=True,
    )
    return GenerationStrategy(name=f"{SOBOL_NODE}+{BO_NODE}", nodes=[sobol, botorch])
