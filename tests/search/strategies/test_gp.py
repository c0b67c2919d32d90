"""bomerge.search.strategies: the registry resolves ``gp`` and refuses unknown names; ``gp``
builds exactly the generation strategy studies have always stored (Sobol, then qLogNEHVI,
or qLogNEI for one objective), so existing studies resume unchanged."""

from __future__ import annotations

import pytest
import torch

from bomerge.errors import BomergeError
from bomerge.search.strategies import STRATEGIES, StrategySettings, get_strategy
from bomerge.search.strategies.base import accelerator, optimiser_budget
from bomerge.search.strategies.gp import GaussianProcess


def test_the_registry_resolves_gp_and_refuses_an_unknown_name():
    assert isinstance(get_strategy("gp"), GaussianProcess)
    assert "gp" in STRATEGIES
    with pytest.raises(BomergeError, match=r"^unknown search strategy 'x' "
                                           r"\(known: gp, parego, saas, saas_nuts\)$"):
        get_strategy("x")


def test_gp_is_sobol_then_qlognehvi_with_the_acquisition_settings():
    from ax.adapter.registry import Generators
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement

    strategy = get_strategy("gp").build(StrategySettings(initial_trials=3, seed=7,
                                                         num_restarts=5, raw_samples=64))
    assert strategy.name == "Sobol+qLogNEHVI"
    sobol, bo = strategy.nodes_by_name.values()
    assert (sobol.name, bo.name) == ("Sobol", "qLogNEHVI")
    assert sobol.generator_specs[0].generator_enum == Generators.SOBOL
    assert sobol.generator_specs[0].generator_kwargs == {"seed": 7}
    (criterion,) = sobol.transition_criteria
    assert (criterion.threshold, criterion.transition_to) == (3, "qLogNEHVI")
    assert criterion.use_all_trials_in_exp is False
    spec = bo.generator_specs[0]
    assert spec.generator_enum == Generators.BOTORCH_MODULAR
    assert spec.generator_kwargs == {"botorch_acqf_class": qLogNoisyExpectedHypervolumeImprovement}
    assert spec.generator_gen_kwargs == {
        "model_gen_options": {"optimizer_kwargs": {"num_restarts": 5, "raw_samples": 64}}}
    assert sobol.should_deduplicate and bo.should_deduplicate


def test_gp_for_one_objective_is_sobol_then_qlognei():
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement

    strategy = get_strategy("gp").build(StrategySettings(2, 0, 8, 256, multi_objective=False))
    assert strategy.name == "Sobol+qLogNEI"
    sobol, bo = strategy.nodes_by_name.values()
    assert (sobol.name, bo.name) == ("Sobol", "qLogNEI")
    assert sobol.transition_criteria[0].transition_to == "qLogNEI"
    assert bo.generator_specs[0].generator_kwargs == {
        "botorch_acqf_class": qLogNoisyExpectedImprovement}


@pytest.mark.parametrize(("dimensions", "restarts", "raw"), [
    (1, 2, 64), (3, 3, 96), (5, 5, 160), (8, 8, 256), (15, 8, 256), (25, 8, 256),
])
def test_auto_optimiser_budget_scales_with_dimensions_up_to_the_defaults(dimensions, restarts,
                                                                          raw):
    assert optimiser_budget("auto", "auto", dimensions) == (restarts, raw)


def test_a_configured_optimiser_budget_is_kept_whatever_the_dimensions():
    assert optimiser_budget(4, 100, 25) == (4, 100)
    assert optimiser_budget(4, "auto", 3) == (4, 96)


def test_the_gp_runs_on_the_cpu_unless_the_study_has_an_accelerator():
    assert accelerator("cpu") is None
    if not torch.cuda.is_available():
        assert accelerator("auto") is None and accelerator("cuda") is None
