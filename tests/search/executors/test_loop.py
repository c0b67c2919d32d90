"""bomerge.search.runner's one search loop with each executor: the same generation calls,
trial order and records as the three loops it replaced (in turn, overlapped, Ray), checked
with a stand-in for Ax and the evaluator; and the executor a config selects."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.progress import Progress

from bomerge.errors import BomergeError
from bomerge.search import runner as runner_module
from bomerge.search.consecutive_failures import ConsecutiveFailures
from bomerge.search.executors import (
    EXECUTORS,
    Executor,
    PendingTrial,
    executor_for,
    executor_names,
    get_executor,
)
from bomerge.search.executors.evaluation_process import InEvaluationProcess
from bomerge.search.executors.in_turn import InTurn
from bomerge.search.executors.overlapped import Overlapped
from bomerge.search.executors.ray import OnRay
from bomerge.search.runner import StudyRunner
from bomerge.search.trial import TrialOutcome
from bomerge.tasks.base import EvalResult


def config(executor: str = "local", overlap: bool = False, batch_size: int = 1) -> Any:
    return SimpleNamespace(executor=executor,
                           search=SimpleNamespace(overlap=overlap, batch_size=batch_size,
                                                  early_stopping=SimpleNamespace(enabled=False)))


def test_the_config_selects_the_executor():
    assert executor_for(config()) is InTurn
    assert executor_for(config(overlap=True)) is Overlapped
    assert executor_for(config("ray", overlap=True)) is OnRay
    # every registered executor is a name the config takes
    assert executor_for(config("in_turn", overlap=True)) is InTurn
    assert executor_for(config("overlapped")) is Overlapped
    assert executor_for(config("process")) is InEvaluationProcess
    assert set(EXECUTORS) <= set(executor_names())
    with pytest.raises(BomergeError, match="unknown executor 'dask'"):
        get_executor("dask")


class Recorder:
    """A StudyRunner with Ax and the evaluator replaced by a log of what the loop asked."""

    def __init__(self, cfg: Any, evaluate_gate: Any = None) -> None:
        self.runner = StudyRunner.__new__(StudyRunner)
        self.runner.config = cfg
        self.runner.store = SimpleNamespace(name="s", directory=Path("."))
        self.runner.bench = SimpleNamespace(paths=[], base_folder=None)
        self.events: list[tuple[Any, ...]] = []
        self.evaluated: list[int] = []
        self.generated = 0
        self.outcomes: dict[int, TrialOutcome] = {}
        self.batches: list[list[int]] = []  # the trials of each recording call
        self.gate = evaluate_gate
        self.runner._generate = self.generate  # type: ignore[method-assign]
        self.runner._evaluate = self.evaluate  # type: ignore[method-assign]
        self.runner._record_trials = self.record  # type: ignore[method-assign]

    def generate(self, q: int) -> tuple[list[tuple[int, dict[str, float]]], float]:
        trials = [(i, {"x": float(i)}) for i in range(self.generated, self.generated + q)]
        self.generated += q
        self.events.append(("gen", [i for i, _ in trials]))
        return trials, 0.5 * q

    def evaluate(self, params: dict[str, float], on_chunk: Any = None) -> TrialOutcome:
        index = int(params["x"])
        if self.gate is not None:
            self.gate(index)
        self.evaluated.append(index)
        for rows in (10, 20, 30):  # three chunks of ten rows before the last
            if on_chunk is not None and on_chunk(EvalResult(1.0, 0.5, {}, rows)):
                return TrialOutcome(EvalResult(1.0, 0.5, {}, rows), None, 0.0, 0.0, stopped=True)
        return TrialOutcome(None, None, 0.0, 0.0)

    def record(self, finished: list[Any], progress: Any) -> list[str | None]:
        for item in finished:
            self.events.append(("record", item.index, item.timing))
            self.outcomes[item.index] = item.outcome
        self.batches.append([item.index for item in finished])
        return [None] * len(finished)

    def search(self, done: int, target: int) -> None:
        with Progress(disable=True) as progress:
            bar = progress.add_task("s", total=target)
            self.runner._search(done, target, progress, bar, ConsecutiveFailures(3, "s"))


def test_in_turn_generates_a_batch_then_evaluates_and_records_each_in_turn():
    log = Recorder(config(batch_size=2))
    seen = []
    log.gate = lambda index: seen.append((index, list(log.events)))
    log.search(0, 5)
    assert log.events == [
        ("gen", [0, 1]), ("record", 0, {"gen_s": 0.5}), ("record", 1, {"gen_s": 0.5}),
        ("gen", [2, 3]), ("record", 2, {"gen_s": 0.5}), ("record", 3, {"gen_s": 0.5}),
        ("gen", [4]), ("record", 4, {"gen_s": 0.5}),
    ]
    # Each trial is evaluated only once the one before it is recorded.
    for index, before in seen:
        assert (index == 0 or ("record", index - 1, {"gen_s": 0.5}) in before)
        assert ("record", index, {"gen_s": 0.5}) not in before


def test_overlapped_generates_the_next_trial_while_one_is_evaluated():
    generated_next = {i: threading.Event() for i in range(6)}

    def gate(index: int) -> None:
        # The evaluation of trial i ends only once trial i+1 exists (the last one excepted).
        if index < 3:
            assert generated_next[index].wait(10), f"trial {index + 1} not generated meanwhile"

    log = Recorder(config(overlap=True), gate)
    real = log.generate

    def generate(q: int) -> Any:
        trials = real(q)
        for i, _ in trials[0]:
            if i > 0:
                generated_next[i - 1].set()
        return trials

    log.runner._generate = generate  # type: ignore[method-assign]
    log.search(0, 4)
    assert log.events == [
        ("gen", [0]), ("gen", [1]), ("record", 0, {"gen_s": 0.5}),
        ("gen", [2]), ("record", 1, {"gen_s": 0.5}),
        ("gen", [3]), ("record", 2, {"gen_s": 0.5}),
        ("record", 3, {"gen_s": 0.5}),
    ]
    assert log.evaluated == [0, 1, 2, 3]


def test_overlapped_with_batches_generates_the_next_batch_while_one_batch_is_left():
    """A pipeline: batch 2 is generated while batch 1 is evaluated, and the next one once
    at most one batch is left to evaluate, so the worker always has trials queued."""
    log = Recorder(config(overlap=True, batch_size=2))
    log.search(1, 6)
    assert log.events == [
        ("gen", [0, 1]), ("gen", [2, 3]), ("record", 0, {"gen_s": 0.5}),
        ("record", 1, {"gen_s": 0.5}), ("gen", [4]), ("record", 2, {"gen_s": 0.5}),
        ("record", 3, {"gen_s": 0.5}), ("record", 4, {"gen_s": 0.5}),
    ]
    assert log.evaluated == [0, 1, 2, 3, 4]


def test_overlapped_keeps_evaluating_queued_trials_while_the_main_thread_generates():
    """The worker takes the next queued trial itself: a long generation call does not
    leave it idle while trials are queued."""
    log = Recorder(config(overlap=True, batch_size=2))
    real = log.generate
    during: list[list[int]] = []

    def slow_generate(q: int) -> Any:
        before = list(log.evaluated)
        if log.generated:  # the second call: give the worker time to go through batch 1
            deadline = time.time() + 10
            while len(log.evaluated) < 2 and time.time() < deadline:
                time.sleep(0.01)
        during.append([i for i in log.evaluated if i not in before])
        return real(q)

    log.runner._generate = slow_generate  # type: ignore[method-assign]
    log.search(0, 4)
    assert during[1] == [0, 1]  # both queued trials were scored during the second call


def _generate_once_both_finished(log: Recorder, finished: Any) -> None:
    """The second generation call of ``log`` returns only once ``finished()`` holds."""
    real = log.generate

    def slow_generate(q: int) -> Any:
        if log.generated:
            deadline = time.time() + 10
            while not finished() and time.time() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # the worker hands the last outcome over after evaluating
        return real(q)

    log.runner._generate = slow_generate  # type: ignore[method-assign]


def test_overlapped_records_the_trials_that_finished_meanwhile_in_one_call():
    """Trials that finished while the main thread generated are recorded together, in
    the order they finished (``Executor.finished_now``): one store write for all."""
    log = Recorder(config(overlap=True, batch_size=2))
    _generate_once_both_finished(log, lambda: len(log.evaluated) >= 2)
    log.search(0, 4)
    assert log.batches[0] == [0, 1]
    assert sorted(i for batch in log.batches for i in batch) == [0, 1, 2, 3]


def test_an_evaluation_that_raised_is_raised_after_the_trials_that_finished_before_it():
    log = Recorder(config(overlap=True, batch_size=2))
    entered = []

    def gate(index: int) -> None:
        entered.append(index)
        if index == 1:
            raise KeyboardInterrupt

    log.gate = gate
    _generate_once_both_finished(log, lambda: len(entered) >= 2)
    with pytest.raises(KeyboardInterrupt):
        log.search(0, 4)
    assert log.batches == [[0]]  # trial 0 recorded; trial 1 left RUNNING for the resume


class FakePool(Executor):
    """Two workers, trials finishing in the order submitted: what ``ray`` does on a
    cluster of two, without Ray."""

    name = "fake_pool"

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.running: list[PendingTrial] = []

    @property
    def busy(self) -> int:
        return len(self.running)

    @property
    def free(self) -> bool:
        return len(self.running) < 2

    def wanted(self, queued: int) -> int:
        return max(0, 2 - len(self.running) - queued)

    def submit(self, trial: PendingTrial) -> None:
        self.running.append(trial)

    def next_finished(self) -> tuple[PendingTrial, TrialOutcome]:
        return self.running.pop(0), TrialOutcome(None, None, 0.0, 0.0)

    def status(self) -> str:
        return f"{self.busy} running"


def test_a_pool_generates_one_call_for_all_idle_workers_and_records_as_they_finish(monkeypatch):
    monkeypatch.setattr(runner_module, "executor_for", lambda cfg: FakePool)
    log = Recorder(config("ray"))
    log.search(0, 5)
    assert log.events == [
        ("gen", [0, 1]), ("record", 0, {"gen_s": 0.5}),
        ("gen", [2]), ("record", 1, {"gen_s": 0.5}),
        ("gen", [3]), ("record", 2, {"gen_s": 0.5}),
        ("gen", [4]), ("record", 3, {"gen_s": 0.5}),
        ("record", 4, {"gen_s": 0.5}),
    ]


@pytest.mark.parametrize("overlap", [False, True])
def test_chunk_decisions_are_made_in_the_study_thread_and_can_stop_a_trial(overlap):
    """Trials scored chunk by chunk hand each chunk's running scores to the runner's main
    thread (the one that talks to Ax), in order, and stop when it says so; the overlapped
    executor's worker thread waits for each answer."""
    log = Recorder(config(overlap=overlap))
    asked: list[tuple[int, int, bool]] = []

    def decide_for(index: int) -> Any:
        def decide(running: EvalResult) -> bool:
            asked.append((index, running.n, threading.current_thread() is threading.main_thread()))
            return index == 1 and running.n == 20  # trial 1 stops after its second chunk
        return decide

    log.runner.decide_for = decide_for  # type: ignore[method-assign]
    log.search(0, 3)
    assert [(i, n) for i, n, _ in asked] == [(0, 10), (0, 20), (0, 30), (1, 10), (1, 20),
                                            (2, 10), (2, 20), (2, 30)]
    assert all(main for _, _, main in asked)
    assert log.outcomes[1].stopped and log.outcomes[1].result.n == 20
    assert not log.outcomes[0].stopped and not log.outcomes[2].stopped
