"""Rebuilding a recorded merge (a trial of the study or a recorded baseline) on a Workbench.

What ``export`` needs to write a study's merge: the candidates loaded and the merge formed
again from what the study recorded, with no Ax client to create, no search to resume and
no acquisition kernel to load. The runner forms its pick's merge (for the report rows)
with the same function, so a study's merge has one definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bomerge.errors import BomergeError
from bomerge.merge.base import MergeMethod
from bomerge.search.baselines import INDIVIDUAL
from bomerge.search.claims import keep_rows
from bomerge.search.pareto import TrialRecord
from bomerge.search.space import study_space
from bomerge.search.trial import scores_of
from bomerge.search.workbench import Workbench


def trial_merge(bench: Workbench, index: int,
                experiment: Any = None) -> tuple[MergeMethod, dict[str, torch.Tensor]]:
    """The method that merged trial ``index`` (the chosen one when the study chooses its
    method per trial) and its merge at the trial's point (``bench`` opened).

    ``experiment`` is the study's Ax experiment when the caller holds it open (the runner,
    for its pick); otherwise the stored one is read (read-only)."""
    config, store = bench.config, bench.store
    if experiment is not None:
        parameters = dict(experiment.trials[index].arm.parameters)
    else:
        stored = {trial.index: trial for trial in store.read_trials()}
        if index not in stored:
            raise BomergeError(f"study '{store.name}' has no trial {index}")
        parameters = stored[index].parameters
    method = bench.study_method()
    space = study_space(config, method, bench.pool.k)
    values = space.decode(parameters)
    return method.member(values), bench.merge(method, values)


def baseline_merge(bench: Workbench,
                   recorded: dict[str, Any]) -> tuple[MergeMethod, dict[str, torch.Tensor]]:
    """The method and merge of a recorded baseline (as ``StudyStore.read_baselines`` gives
    it), from its stored coefficients."""
    if recorded["method"] == INDIVIDUAL:
        raise BomergeError("baseline 'individual' is each task's own candidate, not one merge: "
                           "its models are the candidates themselves")
    # the options it was scored with (older studies recorded none: the study's, or defaults)
    method = bench.method(recorded["method"], recorded.get("extra", {}).get("options"))
    values = {k: np.asarray(v) if isinstance(v, list) else v
              for k, v in recorded["coefficients"].items()}
    return method, bench.merge(method, values)


def report_scores(bench: Workbench, client: Any, record: TrialRecord,
                  baselines: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], str | None]:
    """A picked merge's report-row scores and the label its report-row predictions are
    stored under: a recorded baseline's (an arm of the study or a recipe beside it),
    recorded when it ran, else evaluated now (and its predictions kept as ``trial_N``)."""
    recorded = baselines.get(record.arm)
    if (recorded is not None and recorded["trial"] == record.index
            and bench.store.predictions_path(record.arm).is_file()):
        return dict(recorded["report"]), record.arm
    if record.index is None:
        assert recorded is not None, f"no recorded baseline '{record.arm}'"
        _, merged = baseline_merge(bench, recorded)
        label: str | None = record.arm
    else:
        _, merged = trial_merge(bench, record.index, client._experiment)
        label = f"trial_{record.index}"
    result = bench.report.evaluate(merged)
    if not keep_rows(bench.store, label, result):  # type: ignore[arg-type]
        label = None
    return scores_of(result), label
