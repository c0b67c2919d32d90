"""What a crash leaves behind in a study's Ax experiment, for the next run to finish.

Trials are committed to the store as they finish (``completion``), so a kill leaves at most
the trials in flight unfinished, and every one of them can be re-run from its first row:
evaluation is deterministic, and re-running gives the scores (and, for a trial stopped early,
the same stopping decision) the interrupted run would have recorded.
"""

from __future__ import annotations

from typing import Any

from bomerge.search.study.store import StudyStore

__all__ = ["interrupted_trials", "is_search_trial", "unlogged_trials"]


def is_search_trial(trial: Any) -> bool:
    """Whether an Ax trial was proposed by the generation strategy (not a baseline arm or a
    ``search.points`` recipe)."""
    return bool(trial.generator_runs) and trial.generator_runs[0]._generation_node_name is not None


def interrupted_trials(client: Any) -> list[Any]:
    """Trials a crash left unfinished: created but not started, RUNNING (a trial scored
    chunk by chunk keeps its running scores, and is re-run from its first row), or
    COMPLETED without their scores (stores written before ``completion.complete_trial``
    saved data before status: Ax's own completion could leave a COMPLETED trial with no
    data). An EARLY_STOPPED trial is finished: it stays stopped."""
    unfinished = []
    for trial in client._experiment.trials.values():
        if not trial.status.is_terminal:
            unfinished.append(trial)
        elif trial.status.is_completed and not scored(client, trial.index):
            unfinished.append(trial)
    return sorted(unfinished, key=lambda t: t.index)


def scored(client: Any, index: int) -> bool:
    names = set(client._experiment.lookup_data(trial_indices=[index]).df["metric_name"])
    return {"loss", "metric"} <= names


def unlogged_trials(client: Any, store: StudyStore) -> list[int]:
    """Finished trials (completed or stopped early) Ax committed just before an interruption
    and ``trials.jsonl`` does not show yet."""
    logged = store.logged_trials()
    return [index for index, trial in sorted(client._experiment.trials.items())
            if (trial.status.is_completed or trial.status.is_early_stopped)
            and index not in logged]
