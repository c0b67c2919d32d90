"""Proposing q trials: one generation call for the whole batch where the strategy allows it.

Ax's ``Client.get_next_trials(q)`` makes q generation calls of one arm each, the earlier
arms pending: the GP is fitted once, but Ax's transforms, the acquisition's construction
and its optimisation run q times. A *joint* batch asks the generation strategy for one
generator run of q arms (``GenerationStrategy.gen(n=q)``): one transform pass, one
acquisition, and BoTorch's sequential greedy optimisation of its q candidates
(``optimize_acqf(..., sequential=True)``, Ax's default), each one optimised with the
earlier ones as pending points, as Ax's per-arm calls do — the acquisition of the batch is
the same, its overhead is paid once. The run is then split into q one-arm trials, as
every study trial has one arm, each carrying its node's name and generator key (so
``is_search_trial`` and the node's trial counts see them as the generation strategy's own).

Joint batches are used only on a model-based node (the quasi-random trials are drawn as
they always were) and only for strategies that draw nothing at random per call
(``SearchStrategy.reseed_each_call`` false: ParEGO draws one scalarisation per call, so a
joint batch would share one). At q = 1 nothing changes: the one-arm path is Ax's own.
"""

from __future__ import annotations

from typing import Any

__all__ = ["propose"]


def propose(client: Any, q: int, joint: bool) -> dict[int, dict[str, Any]]:
    """Up to q new RUNNING trials of ``client``'s experiment, saved to its store: trial index
    → parameters. ``joint``: one generation call for the batch unless the current node is
    Sobol's. Raises Ax's ``DataRequiredError`` when the model has no data yet."""
    from bomerge.search.strategies.gp import SOBOL_NODE

    strategy, experiment = client._generation_strategy_or_choose(), client._experiment
    if q > 1 and joint:
        # The move Ax's own call would make first (Sobol's count reached): the batch that
        # follows the Sobol trials is already the model's.
        strategy.experiment = experiment
        strategy._maybe_transition_to_next_node(raise_data_required_error=False)
    if q <= 1 or not joint or strategy.current_node_name == SOBOL_NODE:
        return {index: dict(p) for index, p in client.get_next_trials(max_trials=q).items()}
    from ax.utils.common.random import with_rng_seed

    with with_rng_seed(seed=client._random_seed):
        (runs,) = strategy.gen(experiment=experiment, n=q, num_trials=1)
    trials = []
    for run in runs:
        for arm in run.arms:
            trial = experiment.new_trial(generator_run=_one_arm(run, arm))
            trial.mark_running(no_runner_required=True)
            trials.append(trial)
    client._save_generation_strategy_to_db_if_possible(generation_strategy=strategy)
    client._save_or_update_trials_in_db_if_possible(experiment=experiment, trials=trials)
    return {trial.index: dict(trial.arm.parameters) for trial in trials}


def _one_arm(run: Any, arm: Any) -> Any:
    """The generator run of one of ``run``'s arms: its provenance (node, generator, settings,
    timings) without the batch's per-arm predictions, which Ax stores only for a whole run."""
    from ax.core.generator_run import GeneratorRun

    return GeneratorRun(
        arms=[arm.clone()], optimization_config=run.optimization_config,
        search_space=run.search_space, type=run.generator_run_type, fit_time=run.fit_time,
        gen_time=run.gen_time, generator_key=run._generator_key,
        generator_kwargs=run._generator_kwargs, adapter_kwargs=run._adapter_kwargs,
        gen_metadata=run._gen_metadata,
        generator_state_after_gen=run._generator_state_after_gen,
        generation_node_name=run._generation_node_name,
    )
