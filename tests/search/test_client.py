"""bomerge.search.client: a study's Ax client is created once and reloaded from its store;
a process killed between the separate writes that create it (experiment, optimisation
config, generation strategy) leaves an experiment the next run completes, not one that
fails at its first trial."""

from __future__ import annotations

import pytest

from bomerge.search.client import open_client, study_design
from bomerge.search.records import study_objectives
from bomerge.search.runner import StudyRunner
from bomerge.search.space import study_space
from tests.conftest import candidates_study


@pytest.fixture
def runner(glue_root, tiny_candidates, tmp_path) -> StudyRunner:
    study = candidates_study(glue_root, tiny_candidates, tmp_path, "client", trials=2,
                             initial_trials=2)
    study.bench.open()
    study.space = study_space(study.config, study.bench.study_method(), study.bench.pool.k)
    return study


@pytest.mark.parametrize("written", ["experiment", "experiment and objectives"])
def test_a_client_killed_while_being_created_is_completed_by_the_next_run(runner, written):
    from ax.api.client import Client
    from ax.api.configs import StorageConfig

    url = runner.store.connect()
    design = study_design(runner.config, runner.space, study_objectives(runner.config))
    partial = Client(storage_config=StorageConfig(url=url), random_seed=0)
    partial.configure_experiment(parameters=design.parameters,
                                 parameter_constraints=design.parameter_constraints,
                                 name=runner.config.name)
    if written == "experiment and objectives":
        partial.configure_optimization(design.objective)
    # ... killed here: no generation strategy (nor objectives) in the store.
    client = open_client(runner.config.name, url, 0, design)
    assert client._experiment.optimization_config is not None
    assert client._maybe_generation_strategy is not None
    (index, _), = client.get_next_trials(max_trials=1).items()
    assert index == 0
    reloaded = open_client(runner.config.name, url, 0, design)  # and it was stored
    assert reloaded._maybe_generation_strategy is not None
    assert (set(reloaded._experiment.optimization_config.objective.metric_names)
            == {"loss", "metric"})
