"""bomerge.search.batch_generation: a batch of q trials comes from one generation call of q
arms on a model-based node, split into q one-arm trials that Ax stores, reloads and counts
as the generation strategy's own; the Sobol node and ParEGO keep Ax's call per arm, and
q = 1 is Ax's own path."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bomerge.search.batch_generation import propose
from bomerge.search.client import ExperimentDesign, open_client
from bomerge.search.strategies import StrategySettings, get_strategy
from bomerge.search.strategies.gp import SOBOL_NODE
from bomerge.search.study.database import init_ax_engine
from bomerge.search.study.recovery import is_search_trial

INITIAL = 3


def scores(params: dict[str, Any]) -> dict[str, float]:
    """Two competing objectives of a point in the unit square."""
    x, y = params["x"], params["y"]
    return {"loss": (x - 0.3) ** 2 + 0.5 * y, "metric": x * (1 - y) + 0.2 * y}


@pytest.fixture
def design() -> ExperimentDesign:
    from ax.api.configs import RangeParameterConfig

    return ExperimentDesign(
        parameters=[RangeParameterConfig(name=n, parameter_type="float", bounds=(0.0, 1.0))
                    for n in ("x", "y")],
        objective="-loss, metric", strategy="gp",
        settings=StrategySettings(INITIAL, 0, num_restarts=2, raw_samples=32))


def new_client(tmp_path, design: ExperimentDesign, strategy: str = "gp") -> tuple[Any, str]:
    from ax.storage.sqa_store.db import create_all_tables, get_engine

    url = f"sqlite:///{tmp_path / 'ax.db'}"
    init_ax_engine(url)
    create_all_tables(get_engine())
    return open_client("batches", url, 0, replace(design, strategy=strategy)), url


def complete(client: Any, proposed: dict[int, dict[str, Any]]) -> None:
    for index, params in proposed.items():
        client.complete_trial(trial_index=index, raw_data=scores(params))


def count_gen_calls(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ``n`` of each call the generation strategy receives from now on."""
    strategy = client._generation_strategy_or_choose()
    calls: list[int] = []
    original = strategy.gen

    def gen(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("n") or 1)
        return original(*args, **kwargs)

    monkeypatch.setattr(strategy, "gen", gen)
    return calls


def test_a_model_based_batch_is_one_generation_call_split_into_one_arm_trials(
        tmp_path, design, monkeypatch):
    client, _ = new_client(tmp_path, design)
    complete(client, propose(client, INITIAL, joint=True))
    calls = count_gen_calls(client, monkeypatch)
    batch = propose(client, 4, joint=True)
    assert calls == [4]
    assert sorted(batch) == [3, 4, 5, 6]
    trials = [client._experiment.trials[i] for i in batch]
    assert all(len(t.arms) == 1 and t.status.is_running for t in trials)
    assert {t.generator_runs[0]._generation_node_name for t in trials} == {"qLogNEHVI"}
    assert all(is_search_trial(t) for t in trials)
    # four distinct points: each was optimised with the earlier ones pending
    assert len({tuple(p.values()) for p in batch.values()}) == 4


def test_the_sobol_phase_is_axs_own_path_so_its_points_are_unchanged(tmp_path, design,
                                                                    monkeypatch):
    client, _ = new_client(tmp_path, design)
    calls = count_gen_calls(client, monkeypatch)
    proposed = propose(client, 4, joint=True)
    assert calls == [1]  # get_next_trials(4): one arm per trial
    nodes = {client._experiment.trials[i].generator_runs[0]._generation_node_name
             for i in proposed}
    assert nodes == {SOBOL_NODE}


def test_parego_draws_its_scalarisation_per_trial_not_per_batch(tmp_path, design,
                                                                monkeypatch):
    assert get_strategy("parego").reseed_each_call is True
    client, _ = new_client(tmp_path, design, "parego")
    complete(client, propose(client, INITIAL, joint=False))
    calls = count_gen_calls(client, monkeypatch)
    assert len(propose(client, 3, joint=not get_strategy("parego").reseed_each_call)) == 3
    assert calls == [1]  # get_next_trials(3): Ax makes a call per arm inside


def test_a_batch_is_stored_and_a_reloaded_study_goes_on_numbering(tmp_path, design):
    client, url = new_client(tmp_path, design)
    complete(client, propose(client, INITIAL, joint=True))
    first = propose(client, 4, joint=True)
    complete(client, first)
    reloaded = open_client("batches", url, 0, design)
    stored = reloaded._experiment.trials
    assert sorted(stored) == list(range(INITIAL + 4))
    for index, params in first.items():
        assert dict(stored[index].arm.parameters) == params
        assert stored[index].status.is_completed
        assert is_search_trial(stored[index])
    assert sorted(propose(reloaded, 2, joint=True)) == [7, 8]


def test_one_trial_is_axs_own_call(tmp_path, design, monkeypatch):
    client, _ = new_client(tmp_path, design)
    complete(client, propose(client, INITIAL, joint=True))
    asked: list[int] = []
    original = client.get_next_trials

    def get_next_trials(max_trials: int) -> Any:
        asked.append(max_trials)
        return original(max_trials=max_trials)

    monkeypatch.setattr(client, "get_next_trials", get_next_trials)
    assert list(propose(client, 1, joint=True)) == [INITIAL]
    assert asked == [1]
