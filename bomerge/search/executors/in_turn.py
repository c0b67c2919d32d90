"""``in_turn``: trials evaluated in the study process, one after another.

A batch of ``search.batch_size`` trials is generated once nothing is left to evaluate, then
each is merged, scored and recorded before the next one starts.
"""

from __future__ import annotations

from bomerge.search.executors.base import Executor, ExecutorContext, PendingTrial, register
from bomerge.search.trial import TrialOutcome


@register
class InTurn(Executor):
    name = "in_turn"

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        # Evaluated when the runner waits for it, so it runs after the previous trial is
        # recorded, exactly as a plain loop would.
        self._current: PendingTrial | None = None

    @property
    def busy(self) -> int:
        return 0 if self._current is None else 1

    @property
    def free(self) -> bool:
        return self._current is None

    def wanted(self, queued: int) -> int:
        return self.context.batch_size() if not queued and self._current is None else 0

    def submit(self, trial: PendingTrial) -> None:
        self._current = trial

    def next_finished(self) -> tuple[PendingTrial, TrialOutcome]:
        trial, self._current = self._current, None
        assert trial is not None, "no trial submitted"
        return trial, self.context.evaluate(trial.params, self.context.decide_for(trial.index))

    def status(self) -> str:
        return f"trial {self._current.index}" if self._current is not None else "idle"
