"""``overlapped`` (``search.overlap``): keep the evaluator busy.

While one trial is merged and evaluated in a worker thread, the main thread generates the
next one (the trial in flight is a pending point of the acquisition), and the runner
records a finished trial (Ax storage, the log) only after the next one has been handed to
the worker, so neither the GP fit and acquisition optimisation nor the bookkeeping stand
between two evaluations. Only the main thread touches Ax and the study files.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from bomerge.search.executors.base import Executor, ExecutorContext, PendingTrial, register
from bomerge.search.trial import TrialOutcome


@register
class Overlapped(Executor):
    name = "overlapped"
    announces_generation = False  # the bar keeps naming the trial being evaluated

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        self._current: tuple[PendingTrial, Future[TrialOutcome]] | None = None

    def __enter__(self) -> Overlapped:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bomerge-eval")
        return self

    def __exit__(self, *exc: object) -> None:
        # Waits for an evaluation still running (an interrupt leaves its trial RUNNING).
        self._worker.shutdown(wait=True)

    @property
    def busy(self) -> int:
        return 0 if self._current is None else 1

    @property
    def free(self) -> bool:
        return self._current is None

    def wanted(self, queued: int) -> int:
        # Generate as soon as nothing is queued, even with a trial in flight.
        return self.context.config.search.batch_size if not queued else 0

    def submit(self, trial: PendingTrial) -> None:
        self._current = (trial, self._worker.submit(self.context.evaluate, trial.params))

    def next_finished(self) -> tuple[PendingTrial, TrialOutcome]:
        assert self._current is not None, "no trial submitted"
        trial, future = self._current
        outcome = future.result()
        self._current = None
        return trial, outcome

    def status(self) -> str:
        return f"trial {self._current[0].index}" if self._current is not None else "idle"
