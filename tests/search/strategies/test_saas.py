"""bomerge.search.strategies.saas: ``saas`` is ``gp`` with a SAAS-prior surrogate (the MAP
ensemble) under its own node name; Ax's SQL store decodes it and a reloaded client goes on
generating from it; a real study runs, resumes and logs the SAAS node and ``gen_s``;
``saas_nuts`` is refused in one line when BoTorch's fully_bayesian extra is missing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bomerge.errors import BomergeError
from bomerge.search.strategies import STRATEGIES, StrategySettings, get_strategy
from bomerge.search.strategies.saas import NUTS_MODULES, Saas, SaasNuts
from tests.conftest import tiny_study_dict, write_config
from tests.helpers import bomerge_here

HAS_NUTS = all(importlib.util.find_spec(m) is not None for m in NUTS_MODULES)


def _surrogate_classes(node) -> list[type]:
    (spec,) = node.generator_specs
    return [c.botorch_model_class for c in spec.generator_kwargs["surrogate_spec"].model_configs]


def test_saas_is_gp_with_the_map_saas_ensemble_under_its_own_node_name():
    from ax.adapter.registry import Generators
    from botorch.acquisition.logei import qLogNoisyExpectedImprovement
    from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
    from botorch.models.map_saas import EnsembleMapSaasSingleTaskGP

    assert isinstance(get_strategy("saas"), Saas) and {"saas", "saas_nuts"} <= set(STRATEGIES)
    strategy = get_strategy("saas").build(StrategySettings(3, 7, 2, 32))
    assert strategy.name == "Sobol+qLogNEHVI-SAAS"
    sobol, bo = strategy.nodes_by_name.values()
    assert (sobol.name, bo.name) == ("Sobol", "qLogNEHVI-SAAS")
    assert sobol.generator_specs[0].generator_kwargs == {"seed": 7}
    assert sobol.transition_criteria[0].transition_to == "qLogNEHVI-SAAS"
    spec = bo.generator_specs[0]
    assert spec.generator_enum == Generators.BOTORCH_MODULAR
    assert spec.generator_kwargs["botorch_acqf_class"] is qLogNoisyExpectedHypervolumeImprovement
    assert _surrogate_classes(bo) == [EnsembleMapSaasSingleTaskGP]
    assert spec.generator_gen_kwargs == {
        "model_gen_options": {"optimizer_kwargs": {"num_restarts": 2, "raw_samples": 32}}}

    single = get_strategy("saas").build(StrategySettings(2, 0, 2, 32, multi_objective=False))
    _, bo = single.nodes_by_name.values()
    assert bo.name == "qLogNEI-SAAS"
    assert (bo.generator_specs[0].generator_kwargs["botorch_acqf_class"]
            is qLogNoisyExpectedImprovement)


@pytest.mark.skipif(HAS_NUTS, reason="botorch[fully_bayesian] is installed here")
def test_saas_nuts_without_the_fully_bayesian_extra_is_refused_in_one_line():
    with pytest.raises(BomergeError) as refused:
        get_strategy("saas_nuts")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("search strategy 'saas_nuts' needs ")
    assert "numpyro" in message and "botorch[fully_bayesian]" in message


@pytest.mark.skipif(HAS_NUTS, reason="botorch[fully_bayesian] is installed here")
def test_a_saas_nuts_study_without_the_extra_is_refused_before_work(glue_root, tmp_path, capsys):
    config = write_config(tmp_path / "nuts.yaml", tiny_study_dict(
        glue_root, tmp_path / "studies", strategy="saas_nuts"))
    refused = bomerge_here(capsys, "study", "run", str(config))
    assert refused.returncode not in (0, None) and "Traceback" not in refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), refused.stderr
    assert "nuts.yaml" in lines[0] and "search strategy 'saas_nuts' needs" in lines[0]
    assert not (tmp_path / "studies").exists()


@pytest.mark.skipif(not HAS_NUTS, reason="needs botorch[fully_bayesian] (jax, numpyro)")
def test_saas_nuts_uses_the_fully_bayesian_saas_gp():
    from botorch.models.fully_bayesian import SaasFullyBayesianSingleTaskGP

    strategy = get_strategy("saas_nuts").build(StrategySettings(3, 0, 2, 32))
    assert isinstance(get_strategy("saas_nuts"), SaasNuts)
    _, bo = strategy.nodes_by_name.values()
    assert bo.name == "qLogNEHVI-SAAS-NUTS"
    assert _surrogate_classes(bo) == [SaasFullyBayesianSingleTaskGP]


def _node(client, index: int) -> str:
    return client._experiment.trials[index].generator_runs[0]._generation_node_name


def test_a_stored_saas_client_reloads_from_sqlite_and_goes_on_with_the_saas_node(ax_sqlite):
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig
    from botorch.models.map_saas import EnsembleMapSaasSingleTaskGP

    _, storage = ax_sqlite

    def score(p: dict) -> dict:
        x = [p[f"x{i}"] for i in range(6)]
        return {"loss": (x[0] - 0.3) ** 2 + 0.1 * x[1],
                "metric": 1 - (x[0] - 0.6) ** 2 - 0.1 * x[2]}

    client = Client(storage_config=storage, random_seed=0)
    client.configure_experiment(
        parameters=[RangeParameterConfig(name=f"x{i}", parameter_type="float", bounds=(0.0, 1.0))
                    for i in range(6)], name="saas")
    client.configure_optimization("-loss, metric")
    client.set_generation_strategy(get_strategy("saas").build(StrategySettings(3, 0, 2, 32)))
    for _ in range(5):
        ((index, point),) = client.get_next_trials(max_trials=1).items()
        client.complete_trial(index, score(point))
    assert [_node(client, i) for i in range(5)] == ["Sobol"] * 3 + ["qLogNEHVI-SAAS"] * 2

    reloaded = Client.load_from_database("saas", storage_config=storage)
    (bo,) = [n for n in reloaded._generation_strategy._nodes if n.name == "qLogNEHVI-SAAS"]
    assert _surrogate_classes(bo) == [EnsembleMapSaasSingleTaskGP]  # decoded, not a default GP
    ((index, _),) = reloaded.get_next_trials(max_trials=1).items()
    assert index == 5 and _node(reloaded, 5) == "qLogNEHVI-SAAS"
    fitted = bo.generator_spec_to_gen_from.fitted_adapter.generator.surrogate.model
    assert {type(m) for m in getattr(fitted, "models", [fitted])} == {EnsembleMapSaasSingleTaskGP}


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_saas_study_runs_resumes_and_logs_the_saas_node_and_gen_s(
        glue_root: Path, tiny_candidates: list[Path], tmp_path: Path, capsys):
    studies = tmp_path / "studies"
    data = tiny_study_dict(glue_root, studies, name="saas", strategy="saas", trials=3,
                           initial_trials=2, overlap=True)
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in tiny_candidates]}
    config = write_config(tmp_path / "saas.yaml", data)

    ran = bomerge_here(capsys, "study", "run", str(config), "--quiet")
    assert ran.returncode == 0, ran.stderr
    resumed = bomerge_here(capsys, "study", "resume", "saas", "--trials", "1", "--quiet",
                           "--studies-dir", str(studies))
    assert resumed.returncode == 0, resumed.stderr

    log = _log(studies / "saas" / "trials.jsonl")
    assert [r["trial"] for r in log] == list(range(8))  # numbering continues after resume
    nodes = [r["node"] for r in log]
    assert nodes == ["baseline"] * 4 + ["Sobol"] * 2 + ["qLogNEHVI-SAAS"] * 2
    assert all(r["gen_s"] > 0 for r in log[4:])
    print("gen_s per trial:", [(r["node"], round(r["gen_s"], 2)) for r in log[4:]])
