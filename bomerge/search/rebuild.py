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
from bomerge.search.client import stored_client
from bomerge.search.space import study_space
from bomerge.search.workbench import Workbench


def trial_merge(bench: Workbench, index: int,
                client: Any = None) -> tuple[MergeMethod, dict[str, torch.Tensor]]:
    """The method that merged trial ``index`` (the chosen one when the study chooses its
    method per trial) and its merge at the trial's point (``bench`` opened).

    ``client`` is the study's Ax client when the caller holds it open (the runner, for its
    pick); otherwise the stored experiment is loaded."""
    config, store = bench.config, bench.store
    if client is None:
        client = stored_client(config.name, store.connect(), config.seed)
    if client is None:
        raise BomergeError(f"study '{store.name}' has no Ax experiment")
    method = bench.study_method()
    space = study_space(config, method, bench.pool.k)
    values = space.decode(dict(client._experiment.trials[index].arm.parameters))
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
