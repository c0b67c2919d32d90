"""A study's Ax client: opened from the store, or created with its experiment.

Ax keeps the experiment, its trials and its generation strategy in the study's database,
so an existing experiment is always reopened as stored (a resumed study goes on with the
search it began with) and the design below is used only the first time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bomerge.search.pareto import Objective
from bomerge.search.strategies import StrategySettings, get_strategy
from bomerge.search.strategies.base import accelerator, optimiser_budget

if TYPE_CHECKING:
    from bomerge.config import StudyConfig
    from bomerge.search.space import SearchSpace


@dataclass(frozen=True)
class ExperimentDesign:
    """What a new Ax experiment is made of.

    Attributes:
        parameters: Ax parameter configs.
        objective: Ax's objective string (``"-loss, metric"``).
        strategy: the registered search strategy (``search.strategy``).
        settings: what that strategy is built from.
        parameter_constraints: Ax parameter constraints, or None.
        outcome_constraints: Ax outcome constraints (``"loss <= 0.5"``), or None.
    """

    parameters: list[Any]
    objective: str
    strategy: str
    settings: StrategySettings
    parameter_constraints: list[str] | None = None
    outcome_constraints: list[str] | None = None


def objective_text(objectives: tuple[Objective, ...]) -> str:
    """Ax's objective string: the names, a minimised one with a leading ``-``."""
    return ", ".join(name if maximise else f"-{name}" for name, maximise in objectives)


def study_design(config: StudyConfig, space: SearchSpace,
                 objectives: tuple[Objective, ...]) -> ExperimentDesign:
    """A merge study's experiment: the method's search space, the study's objectives (loss
    and metric, or every sub-task's metric) and the optional score thresholds."""
    search = config.search
    thresholds = []
    if search.loss_threshold is not None:
        thresholds.append(f"loss <= {search.loss_threshold}")
    if search.metric_threshold is not None:
        thresholds.append(f"metric >= {search.metric_threshold}")
    thresholds += [f"{task}_normalised >= {floor}" for task, floor in search.floors.items()]
    return ExperimentDesign(
        parameters=space.parameters(),
        objective=objective_text(objectives),
        strategy=search.strategy,
        settings=StrategySettings(search.initial_trials, config.seed,
                                  *optimiser_budget(search.num_restarts, search.raw_samples,
                                                    space.dimensions()),
                                  device=accelerator(config.device)),
        parameter_constraints=space.constraints(),
        outcome_constraints=thresholds or None,
    )


def stored_client(name: str, url: str, seed: int) -> Any:
    """The Ax client of experiment ``name`` in the database, or None if it is not there."""
    from ax.api.client import Client
    from ax.api.configs import StorageConfig
    from ax.exceptions.core import ObjectNotFoundError

    try:
        client = Client.load_from_database(name, storage_config=StorageConfig(url=url))
    except ObjectNotFoundError:
        return None
    client._random_seed = seed  # Ax does not store the client's seed; the study does.
    return client


def open_client(name: str, url: str, seed: int, design: ExperimentDesign) -> Any:
    """The stored client of experiment ``name``, or a new one configured from ``design``."""
    from ax.api.client import Client
    from ax.api.configs import StorageConfig

    client, strategy = stored_client(name, url, seed), None
    if client is None:
        # Resolved before anything is written: an unknown strategy must not leave an
        # experiment without a generation strategy in the store.
        strategy = get_strategy(design.strategy).build(design.settings)
        client = Client(storage_config=StorageConfig(url=url), random_seed=seed)
        client.configure_experiment(parameters=design.parameters,
                                    parameter_constraints=design.parameter_constraints, name=name)
    # Each step below writes the store on its own: a process killed between them left an
    # experiment without its optimisation config or generation strategy (and no trial yet),
    # which the next run completes from the same design.
    if client._experiment.optimization_config is None:
        client.configure_optimization(design.objective,
                                      outcome_constraints=design.outcome_constraints)
    if client._maybe_generation_strategy is None:
        if strategy is None:
            strategy = get_strategy(design.strategy).build(design.settings)
        client.set_generation_strategy(strategy)
    return client
