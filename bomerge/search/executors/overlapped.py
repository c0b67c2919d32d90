"""``overlapped`` (``search.overlap``): keep the evaluator busy.

While one trial is merged and evaluated in a worker thread, the main thread generates the
next one (the trial in flight is a pending point of the acquisition), and the runner
records a finished trial (Ax storage, the log) only after the next one has been handed to
the worker, so neither the GP fit and acquisition optimisation nor the bookkeeping stand
between two evaluations. Only the main thread touches Ax and the study files: a trial scored
chunk by chunk (early stopping) hands each chunk's running scores to the main thread, which
attaches them and answers whether to go on, when it next waits for the trial.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue

from bomerge.search.executors.base import Executor, ExecutorContext, PendingTrial, register
from bomerge.search.trial import ChunkDecision, TrialOutcome
from bomerge.tasks.base import EvalResult

_FINISHED = object()  # the worker's last message for a trial


@dataclass
class _InFlight:
    """A trial in the worker thread, with its two-way channel to the main thread: running
    scores (then ``_FINISHED``) one way, stop-or-go answers the other."""

    trial: PendingTrial
    decide: ChunkDecision | None
    future: Future[TrialOutcome] | None = None
    chunks: SimpleQueue[object] = field(default_factory=SimpleQueue)
    answers: SimpleQueue[bool] = field(default_factory=SimpleQueue)

    def relay(self, result: EvalResult) -> bool:
        """Called in the worker thread after a chunk: wait for the main thread's answer."""
        self.chunks.put(result)
        return self.answers.get()


@register
class Overlapped(Executor):
    name = "overlapped"
    announces_generation = False  # the bar keeps naming the trial being evaluated

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        self._current: _InFlight | None = None

    def __enter__(self) -> Overlapped:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bomerge-eval")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._current is not None:
            # An interrupted trial waiting for an answer is told to stop; unrecorded, it
            # stays RUNNING in Ax and is re-run on resume.
            self._current.answers.put(True)
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
        flight = _InFlight(trial, self.context.decide_for(trial.index))
        relay = flight.relay if flight.decide is not None else None
        flight.future = self._worker.submit(self.context.evaluate, trial.params, relay)
        flight.future.add_done_callback(lambda _: flight.chunks.put(_FINISHED))
        self._current = flight

    def next_finished(self) -> tuple[PendingTrial, TrialOutcome]:
        flight = self._current
        assert flight is not None and flight.future is not None, "no trial submitted"
        while (message := flight.chunks.get()) is not _FINISHED:
            assert flight.decide is not None
            flight.answers.put(flight.decide(message))  # type: ignore[arg-type]
        outcome = flight.future.result()
        self._current = None
        return flight.trial, outcome

    def status(self) -> str:
        return f"trial {self._current.trial.index}" if self._current is not None else "idle"
