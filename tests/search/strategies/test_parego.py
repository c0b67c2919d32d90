"""bomerge.search.strategies.parego: ``parego`` is registered; it is ``gp``'s Sobol points
then a BoTorch node of its own running qLogNParEGO (qLogNEI for one objective); a study of
five objectives generates from that node with qLogNParEGO, and a study stored in SQLite
reloads and goes on generating from it; ``gp`` and ``saas`` take at most four objectives,
``parego`` any number."""

from __future__ import annotations

import math

from bomerge.search.strategies import STRATEGIES, SearchStrategy, StrategySettings, get_strategy
from bomerge.search.strategies.gp import GaussianProcess
from bomerge.search.strategies.parego import BO_NODE, Parego
from bomerge.search.strategies.saas import Saas, SaasNuts

OBJECTIVES = ["m1", "m2", "m3", "m4", "m5"]


def test_parego_is_registered_and_builds_sobol_then_qlognparego():
    from ax.adapter.registry import Generators
    from botorch.acquisition.multi_objective.parego import qLogNParEGO

    assert "parego" in STRATEGIES and isinstance(get_strategy("parego"), Parego)
    strategy = get_strategy("parego").build(StrategySettings(3, 7, 2, 32))
    assert strategy.name == "Sobol+qLogNParEGO" and BO_NODE == "qLogNParEGO"
    sobol, bo = strategy.nodes_by_name.values()
    assert (sobol.name, bo.name) == ("Sobol", "qLogNParEGO")
    assert sobol.generator_specs[0].generator_kwargs == {"seed": 7}
    (criterion,) = sobol.transition_criteria
    assert (criterion.threshold, criterion.transition_to) == (3, "qLogNParEGO")
    (spec,) = bo.generator_specs
    assert spec.generator_enum == Generators.BOTORCH_MODULAR
    assert spec.generator_kwargs == {"botorch_acqf_class": qLogNParEGO}
    assert spec.generator_gen_kwargs == {
        "model_gen_options": {"optimizer_kwargs": {"num_restarts": 2, "raw_samples": 32}}}
    assert sobol.should_deduplicate and bo.should_deduplicate


def test_parego_for_one_objective_is_gps_qlognei():
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement

    settings = StrategySettings(2, 0, 2, 32, multi_objective=False)
    strategy = get_strategy("parego").build(settings)
    assert strategy.name == "Sobol+qLogNEI"
    _, bo = strategy.nodes_by_name.values()
    assert bo.generator_specs[0].generator_kwargs == {
        "botorch_acqf_class": qLogNoisyExpectedImprovement}
    _, gp_bo = get_strategy("gp").build(settings).nodes_by_name.values()
    assert bo.generator_specs[0].generator_kwargs == gp_bo.generator_specs[0].generator_kwargs


def test_max_objectives_is_four_for_the_hypervolume_strategies_and_unlimited_for_parego():
    assert SearchStrategy.max_objectives is None
    assert GaussianProcess.max_objectives == Saas.max_objectives == SaasNuts.max_objectives == 4
    assert Parego.max_objectives is None


def _node(client, index: int) -> str:
    return client._experiment.trials[index].generator_runs[0]._generation_node_name


def _acqf(client):
    (bo,) = [n for n in client._generation_strategy._nodes if n.name == BO_NODE]
    return bo.generator_spec_to_gen_from.fitted_adapter.generator._acquisition.acqf


def _score(p: dict) -> dict:
    x0, x1, x2 = (p[f"x{i}"] for i in range(3))
    return {"m1": x0, "m2": 1 - x0 + 0.2 * x1, "m3": math.sin(3 * x1) + x2,
            "m4": -((x2 - 0.5) ** 2), "m5": x0 * x1 - 0.3 * x2}


def test_five_objectives_generate_from_the_parego_node_and_resume_from_sqlite(ax_sqlite):
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig
    from botorch.acquisition.multi_objective.parego import qLogNParEGO

    _, storage = ax_sqlite
    client = Client(storage_config=storage, random_seed=0)
    client.configure_experiment(
        parameters=[RangeParameterConfig(name=f"x{i}", parameter_type="float", bounds=(0.0, 1.0))
                    for i in range(3)], name="parego")
    client.configure_optimization(", ".join(OBJECTIVES))
    client.set_generation_strategy(get_strategy("parego").build(StrategySettings(3, 0, 2, 32)))
    for _ in range(4):
        ((index, point),) = client.get_next_trials(max_trials=1).items()
        client.complete_trial(index, _score(point))
    assert [_node(client, i) for i in range(4)] == ["Sobol"] * 3 + ["qLogNParEGO"]
    acqf = _acqf(client)
    assert type(acqf) is qLogNParEGO and acqf.scalarization_weights.shape == (5,)

    reloaded = Client.load_from_database("parego", storage_config=storage)
    (bo,) = [n for n in reloaded._generation_strategy._nodes if n.name == BO_NODE]
    assert bo.generator_specs[0].generator_kwargs == {"botorch_acqf_class": qLogNParEGO}
    ((index, _),) = reloaded.get_next_trials(max_trials=1).items()
    assert index == 4 and _node(reloaded, 4) == "qLogNParEGO"
    assert type(_acqf(reloaded)) is qLogNParEGO


def test_parego_draws_its_weights_with_a_seed_of_each_call_gp_keeps_the_studys():
    # Ax's Client re-seeds torch at every generation call: with the study's seed ParEGO
    # would draw the same scalarisation weights every time.
    seeds = {(seed, trials): Parego().seed_for_call(seed, trials)
             for seed in range(3) for trials in range(20)}
    assert len(set(seeds.values())) == len(seeds)  # no study seed repeats another's draws
    assert Parego().seed_for_call(1, 5) == seeds[(1, 5)]  # deterministic: a resume agrees
    assert [GaussianProcess().seed_for_call(7, trials) for trials in (0, 5)] == [7, 7]
