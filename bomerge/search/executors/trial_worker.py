"""A study's workbench loaded once in a process of its own, scoring points by their Ax
parameters: the body of a Ray trial actor (``ray``) and of the evaluation process
(``process``). Only scores go back; the study process records them."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from bomerge.config import StudyConfig
from bomerge.search.trial import SteppedTrial, TrialOutcome, evaluate_point
from bomerge.tasks.base import EvalResult


class TrialWorker:
    """Candidates, base, the prepared merge method (its statistics read from the study's
    cache) and the tokenized selection rows, resident across trials."""

    def __init__(self, study_dir: str, config: StudyConfig, paths: list[str],
                 base: str | None) -> None:
        from bomerge.search.space import study_space
        from bomerge.search.study.store import StudyStore
        from bomerge.search.workbench import Workbench

        self.bench = Workbench(StudyStore(Path(study_dir)), config, show_progress=False)
        self.bench.load([Path(p) for p in paths], Path(base) if base else None)
        self.method = self.bench.study_method()
        self.bench.prepared(self.method)
        self.space = study_space(config, self.method, self.bench.pool.k)
        self.trial: SteppedTrial | None = None

    def describe(self) -> str:
        return f"pid {os.getpid()} on {socket.gethostname()}, {self.bench.device}"

    def evaluate(self, params: dict[str, float]) -> TrialOutcome:
        return evaluate_point(self.bench, self.method, self.space, params)

    def start(self, params: dict[str, float]) -> EvalResult | TrialOutcome:
        """Merge and score the first chunk of a trial judged chunk by chunk: its running
        scores (the study process answers with ``step`` or ``stop``), or its outcome."""
        self.trial = SteppedTrial(self.bench, self.method, self.space, params)
        return self.trial.step()

    def step(self) -> EvalResult | TrialOutcome:
        assert self.trial is not None, "step before start"
        return self.trial.step()

    def stop(self) -> TrialOutcome:
        assert self.trial is not None, "stop before start"
        return self.trial.stop()
