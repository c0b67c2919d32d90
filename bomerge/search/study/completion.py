"""Completing Ax trials so that a SIGKILL can never leave one COMPLETED without scores.

Ax's ``Client.complete_trial`` saves the trial as COMPLETED in one transaction, then deletes
the trial's stored data and inserts it again in two more. A process killed between the
delete and the insert leaves a COMPLETED trial with no data in the SQLite store. Here the
data is saved first, while the trials are still RUNNING (a kill then leaves them in
flight, which a resume re-runs), and the statuses change last, in one transaction.

Several finished trials are recorded together (``record_outcomes``): one save of their data,
one transaction for their statuses, whatever their number. A pipelined
study whose evaluator finished a few trials while the next batch was generated pays the
store's fixed cost per write once for all of them (docs/performance.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def record_outcomes(client: Any, scores: Mapping[int, Mapping[str, float]],
                    stopped: Iterable[int] = (), progression: int | None = None) -> None:
    """Attach each trial's ``scores`` (at ``progression`` rows, in a study that stops trials
    early) and mark it COMPLETED, and mark the ``stopped`` trials, whose running scores are
    attached, EARLY_STOPPED: every trial's data first, then every status."""
    extra = set().union(*(set(s) for s in scores.values())) - set(client._experiment.metrics)
    if extra:  # as Client.attach_data: unexpected scores are kept as tracking metrics
        client.configure_tracking_metrics(metric_names=sorted(extra))
    experiment = client._experiment  # after the metrics: configuring them may replace it
    step = progression if progression is not None else math.nan
    scored = []
    for index, values in scores.items():
        trial = experiment.trials[index]
        trial.update_trial_data(raw_data=[(step, dict(values))])
        scored.append(trial)
    _save_data(client, scored)
    for trial in scored:
        trial.mark_completed()
    ended = [experiment.trials[index] for index in stopped]
    for trial in ended:
        trial.mark_early_stopped()
    _save_statuses(client, scored + ended)


def complete_trial(client: Any, index: int, scores: Mapping[str, float],
                   progression: int | None = None) -> None:
    """Attach ``scores`` to trial ``index`` and mark it COMPLETED, data before status."""
    record_outcomes(client, {index: scores}, (), progression)


def _save_data(client: Any, trials: list[Any]) -> None:
    """Store the data of ``trials`` in one transaction: their rows of Ax's data table, encoded
    by Ax's encoder, replace any stored before. The trials themselves were saved when they
    were generated and have not changed but for their data; Ax's own save would encode each
    again with its generator run (search space, optimisation config) and decode every row it
    wrote to copy database ids back, most of a recording's cost. Ax replaces a trial's data
    rows by trial index as well, so the in-memory data needs no database id."""
    from ax.core.data import Data
    from ax.storage.sqa_store.db import session_scope

    settings = client.db_settings if client.db_settings_set else None
    experiment = client._experiment
    if settings is None or not trials or experiment.db_id is None:
        return
    encoder = settings.encoder
    sqa_data = encoder.config.class_to_sqa_class[Data]
    rows = []
    for trial in trials:
        row = encoder.data_to_sqa(experiment.lookup_data(trial_indices={trial.index}),
                                  trial_index=trial.index, timestamp=0)
        row.id = None
        row.experiment_id = experiment.db_id
        rows.append(row)
    with session_scope() as session:
        session.query(sqa_data).filter_by(experiment_id=experiment.db_id).filter(
            sqa_data.trial_index.in_([trial.index for trial in trials])).delete()
        session.add_all(rows)


def _save_statuses(client: Any, trials: list[Any]) -> None:
    from ax.core.trial import Trial
    from ax.storage.sqa_store.db import session_scope

    settings = client.db_settings if client.db_settings_set else None
    stored = [trial for trial in trials if trial.db_id is not None]
    if settings is None or not stored:
        return
    sqa_trial = settings.encoder.config.class_to_sqa_class[Trial]
    with session_scope() as session:
        for trial in stored:
            session.query(sqa_trial).filter_by(id=trial.db_id).update(
                {"status": trial.status, "time_completed": trial.time_completed})
