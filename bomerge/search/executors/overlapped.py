"""``overlapped`` (``search.overlap``): keep the evaluator busy, a pipeline of batches.

A worker thread evaluates the trials handed to it one after another from its own queue,
without waiting for the main thread; the main thread generates the next batch of
``search.batch_size`` (q) trials as soon as at most one batch is left to evaluate, so
while it fits the GP and optimises the acquisition (the trials in flight and queued are
pending points, Ax's asynchronous generation) the worker still has up to q trials to
score. Finished trials are recorded (Ax storage, the log) by the main thread between two
generations, in the order they finished. Only the main thread touches Ax and the study
files: a trial scored chunk by chunk (early stopping) hands each chunk's running scores to
the main thread and waits for its answer, which it gives when it next waits for a trial.

With q = 1 this is the one-trial overlap: trial n + 1 is generated while trial n is
evaluated, with the same pending points, so the trials are those the previous
``overlapped`` executor proposed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from queue import SimpleQueue

from bomerge.search.executors.base import Executor, ExecutorContext, PendingTrial, register
from bomerge.search.torch_threads import keep_evaluation_threads
from bomerge.search.trial import ChunkDecision, TrialOutcome
from bomerge.tasks.base import EvalResult

_STOP = object()  # tells the worker to end


@dataclass
class _InFlight:
    """A trial handed to the worker, with its two-way channel to the main thread: running
    scores one way, stop-or-go answers the other, and the outcome at the end."""

    trial: PendingTrial
    decide: ChunkDecision | None
    chunks: SimpleQueue[EvalResult] = field(default_factory=SimpleQueue)
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
        self._inbox: SimpleQueue[object] = SimpleQueue()
        # (flight, outcome or the exception it raised) when a trial ends; (flight, None)
        # when it has a chunk to judge
        self._events: SimpleQueue[tuple[_InFlight, TrialOutcome | BaseException | None]] = (
            SimpleQueue())
        self._submitted: list[_InFlight] = []
        self._running: _InFlight | None = None
        self._closing = False
        self._raised: BaseException | None = None  # met by ``finished_now``, not yet raised

    def __enter__(self) -> Overlapped:
        self._worker = threading.Thread(target=self._work, name="bomerge-eval", daemon=True)
        self._worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # Trials not handed back stay RUNNING in Ax and are re-run on resume; one waiting
        # for an answer is told to stop, queued ones are dropped.
        self._closing = True
        for flight in self._submitted:
            flight.answers.put(True)
        self._inbox.put(_STOP)
        self._worker.join()

    def _work(self) -> None:
        keep_evaluation_threads()
        while (item := self._inbox.get()) is not _STOP:
            flight: _InFlight = item  # type: ignore[assignment]
            if self._closing:
                continue  # queued behind an interrupt: left RUNNING, re-run on resume
            self._running = flight

            def relay(result: EvalResult, flight: _InFlight = flight) -> bool:
                self._events.put((flight, None))
                return flight.relay(result)

            outcome: TrialOutcome | BaseException
            try:
                outcome = self._score(flight.trial.params,
                                      relay if flight.decide is not None else None)
            except BaseException as error:  # noqa: BLE001 - raised again in the main thread
                outcome = error
            self._running = None
            self._events.put((flight, outcome))

    def _score(self, params: dict[str, float], relay: ChunkDecision | None) -> TrialOutcome:
        """Called in the worker thread: merge and score one point (``relay`` hands each
        chunk's running scores to the main thread and returns its stop-or-go answer)."""
        return self.context.evaluate(params, relay)

    @property
    def busy(self) -> int:
        # an evaluation's exception not yet raised counts, so the runner waits for it
        return len(self._submitted) + (self._raised is not None)

    @property
    def free(self) -> bool:
        # one batch being evaluated, the next one queued behind it
        return len(self._submitted) < 2 * self.context.batch_size()

    def wanted(self, queued: int) -> int:
        # The next batch as soon as at most one batch is left to evaluate.
        q = self.context.batch_size()
        return q if not queued and len(self._submitted) <= q else 0

    def submit(self, trial: PendingTrial) -> None:
        flight = _InFlight(trial, self.context.decide_for(trial.index))
        self._submitted.append(flight)
        self._inbox.put(flight)

    def next_finished(self) -> tuple[PendingTrial, TrialOutcome]:
        if self._raised is not None:
            error, self._raised = self._raised, None
            raise error
        assert self._submitted, "no trial submitted"
        while True:
            finished = self._handle(self._events.get())
            if isinstance(finished, BaseException):
                raise finished
            if finished is not None:
                return finished

    def finished_now(self) -> list[tuple[PendingTrial, TrialOutcome]]:
        finished = []
        while self._raised is None and not self._events.empty():
            item = self._handle(self._events.get())
            if isinstance(item, BaseException):
                # raised by the next ``next_finished``, once those before it are recorded
                self._raised = item
            elif item is not None:
                finished.append(item)
        return finished

    def _handle(self, event: tuple[_InFlight, TrialOutcome | BaseException | None]
                ) -> tuple[PendingTrial, TrialOutcome] | BaseException | None:
        """Answer a chunk's running scores (None), or take a trial's end: its outcome, or
        the exception its evaluation raised."""
        flight, outcome = event
        if outcome is None:  # a chunk to judge
            assert flight.decide is not None
            flight.answers.put(flight.decide(flight.chunks.get()))
            return None
        self._submitted.remove(flight)
        if isinstance(outcome, BaseException):
            return outcome
        return flight.trial, outcome

    def status(self) -> str:
        running = self._running
        waiting = len(self._submitted) - (running is not None)
        shown = f"trial {running.trial.index}" if running is not None else "idle"
        return shown + (f" (+{waiting} queued)" if waiting > 0 else "")
