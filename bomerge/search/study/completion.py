"""Completing an Ax trial so that a SIGKILL can never leave it COMPLETED without scores.

Ax's ``Client.complete_trial`` saves the trial as COMPLETED in one transaction, then deletes
the trial's stored data and inserts it again in two more. A process killed between the
delete and the insert leaves a COMPLETED trial with no data in the SQLite store. Here the
data is saved first, while the trial is still RUNNING (a kill then leaves the trial in
flight, which a resume re-runs), and the status changes last, in one UPDATE statement.
"""

from __future__ import annotations

from typing import Any


def complete_trial(client: Any, index: int, scores: dict[str, float],
                   progression: int | None = None) -> None:
    """Attach ``scores`` to trial ``index`` (at ``progression`` rows, in a study that stops
    trials early) and mark it COMPLETED, data before status."""
    client.attach_data(trial_index=index, raw_data=scores, progression=progression)
    trial = client._experiment.trials[index]
    trial.mark_completed()
    _save_status(client, trial)


def mark_early_stopped(client: Any, index: int) -> None:
    """Mark trial ``index``, whose running scores are attached, EARLY_STOPPED: the status
    alone is written, so a kill cannot leave it stopped without its scores."""
    trial = client._experiment.trials[index]
    trial.mark_early_stopped()
    _save_status(client, trial)


def _save_status(client: Any, trial: Any) -> None:
    from ax.core.trial import Trial
    from ax.storage.sqa_store.db import session_scope

    settings = client.db_settings if client.db_settings_set else None
    if settings is None or trial.db_id is None:
        return
    sqa_trial = settings.encoder.config.class_to_sqa_class[Trial]
    with session_scope() as session:
        session.query(sqa_trial).filter_by(id=trial.db_id).update(
            {"status": trial.status, "time_completed": trial.time_completed}
        )
