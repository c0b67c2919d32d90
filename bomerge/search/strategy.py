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
from botorch.acquisition.logei import qLogNoisyExpectedImprovement  # noqa: E402
from botorch.acquisition.multi_objective.logei import (  # noqa: E402
    qLogNoisyExpectedHypervolumeImprovement,
)

SOBOL_NODE = "Sobol"
BO_NODE = "qLogNEHVI"
SINGLE_OBJECTIVE_NODE = "qLogNEI"


def pinned_strategy(
    initial_trials: int, seed: int, num_restarts: int, raw_samples: int,
    multi_objective: bool = True,
) -> GenerationStrategy:
    """Sobol for ``initial_trials`` of its own trials (attached baseline arms do not count),
    then qLogNEHVI (or, for a single objective, qLogNEI) with the given
    acquisition-optimiser settings."""
    bo_node = BO_NODE if multi_objective else SINGLE_OBJECTIVE_NODE
    acquisition = (qLogNoisyExpectedHypervolumeImprovement if multi_objective
                   else qLogNoisyExpectedImprovement)
    sobol = GenerationNode(
        name=SOBOL_NODE,
        generator_specs=[
            GeneratorSpec(generator_enum=Generators.SOBOL, generator_kwargs={"seed": seed})
        ],
        transition_criteria=[
            MinTrials(threshold=initial_trials, transition_to=bo_node, use_all_trials_in_exp=False)
        ],
        should_deduplicate=True,
    )
    botorch = GenerationNode(
        name=bo_node,
        generator_specs=[
            GeneratorSpec(
                generator_enum=Generators.BOTORCH_MODULAR,
                generator_kwargs={"botorch_acqf_class": acquisition},
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
    return GenerationStrategy(name=f"{SOBOL_NODE}+{bo_node}", nodes=[sobol, botorch])


def load_acquisition_kernel() -> None:
    """Load BoTorch's fused qLogNEHVI C++ kernel once per process, safely.

    BoTorch JIT-compiles (or re-checks) that kernel on the first qLogNEHVI of a process,
    under torch's ``FileBaton``: a bare ``lock`` file in the torch extensions folder that is
    deleted when the build ends. A process killed with SIGKILL inside that window leaves
    the file behind, and every later process then waits on it forever. bomerge holds an
    ``flock`` (released by the kernel when its holder dies) around the load, so a ``lock``
    file found while holding it was left by a killed bomerge process and is removed.
    """
    import fcntl
    import os
    from pathlib import Path

    from botorch.acquisition.multi_objective import logei
    from torch.utils.cpp_extension import _get_build_directory

    if logei._load_attempted:
        return
    try:
        build = Path(_get_build_directory("logei_fused_ext", verbose=False))
    except Exception:  # noqa: BLE001 - no extensions folder: BoTorch falls back to Python
        logei._try_load_fused_kernel()
        return
    guard = os.open(build.parent / "logei_fused_ext.bomerge-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(guard, fcntl.LOCK_EX)
        (build / "lock").unlink(missing_ok=True)
        logei._try_load_fused_kernel()
    finally:
        fcntl.flock(guard, fcntl.LOCK_UN)
        os.close(guard)
