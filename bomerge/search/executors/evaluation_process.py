"""``process`` (``executor: process``): the pipeline of ``overlapped``, with the merges and
evaluations in a process of their own.

In ``overlapped`` the GP's fit and acquisition optimisation (main thread) and the
evaluation (worker thread) share one process and its torch thread pool, so each slows the
other. Here a spawned evaluation process holds the study's workbench (candidates, the
prepared method, the tokenized selection rows, loaded once, as a Ray trial worker does)
and scores the points sent to it; the study process generates the next batch meanwhile,
and remains the only one that talks to Ax and writes study files. The two processes
split the CPU's torch threads (``thread_split``).

A trial whose evaluation process dies (killed for memory) fails with the reason, and a new
process takes the next trial. Leaving the executor (the study done, Ctrl-C, an error)
kills the process: a trial still in flight stays RUNNING in Ax and is re-run on resume. The
process also ends itself when the study process disappears (``kill -9``), so no orphan
keeps a GPU.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from bomerge.errors import BomergeError
from bomerge.search.executors.base import ExecutorContext, register
from bomerge.search.executors.overlapped import Overlapped
from bomerge.search.trial import ChunkDecision, TrialOutcome


def thread_split(cores: int, device: str) -> tuple[int, int]:
    """(evaluation, study process) torch threads on ``cores`` CPU cores.

    A CPU study's evaluation runs on every trial and the study process only between
    batches, so the evaluation keeps every core and the study process takes half (on 2
    cores: 2 and 1, the fastest of the splits measured in docs/performance.md; 2 and 2 was
    twice as slow, the two thread pools spinning against each other). A CUDA study's
    evaluation needs 2 threads to feed the device; the study process takes the rest. Its
    generation calls run with ``search.generation_threads`` whatever the split
    (``torch_threads``)."""
    cores = max(1, cores)
    if device.startswith("cuda"):
        evaluation = min(2, cores)
        return evaluation, max(1, cores - evaluation)
    return cores, max(1, cores // 2)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _exit_with_parent(parent: int) -> None:
    """End this process once the study process is gone (its parent id changes)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="bomerge-parent-watch", daemon=True).start()


def serve(connection: Connection) -> None:
    """The evaluation process: receive (threads, study_dir, config, paths, base), load the
    workbench, then answer (call, arguments) requests with ("ok", value) or ("error",
    traceback) until told to close or the pipe closes."""
    import torch

    from bomerge.search.executors.trial_worker import TrialWorker

    # Ctrl-C reaches the whole process group; the study process handles it and ends this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(os.getppid())
    try:
        threads, study_dir, config, paths, base = connection.recv()
    except (EOFError, OSError):
        return
    torch.set_num_threads(threads)
    try:
        worker = TrialWorker(study_dir, config, paths, base)
    except Exception as error:  # noqa: BLE001 - reported by the study process
        connection.send(("error", f"{type(error).__name__}: {error}"))
        return
    connection.send(("ok", worker.describe()))
    while True:
        try:
            name, arguments = connection.recv()
        except (EOFError, OSError):
            return
        if name == "close":
            return
        try:
            reply = ("ok", getattr(worker, name)(*arguments))
        except Exception:  # noqa: BLE001 - evaluate_point catches a trial's own errors
            reply = ("error", traceback.format_exc())
        connection.send(reply)


def serve_on(descriptor: int) -> None:
    """The evaluation process's entry point: ``serve`` on the socket it inherited."""
    serve(Connection(descriptor))


class EvaluationProcess:
    """The study process's handle on one evaluation process: ``call`` sends a request and
    waits for its answer.

    A fresh interpreter (``serve_on``) rather than a multiprocessing child: a
    fork would copy torch's threads, and a spawn re-imports the caller's main script, which
    breaks scripts without a ``__main__`` guard. The two talk over a socket pair."""

    def __init__(self, context: ExecutorContext, threads: int) -> None:
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import serve_on; serve_on({theirs.fileno()})"],
            pass_fds=[theirs.fileno()])
        theirs.close()
        self._connection = Connection(ours.detach())
        base = str(context.base) if context.base else None
        self._connection.send((threads, str(context.study_dir), context.config,
                               [str(p) for p in context.paths], base))
        self._described: str | None = None

    def describe(self) -> str:
        """Wait until the workbench is loaded; where it runs (a BomergeError if it could
        not load)."""
        if self._described is None:
            status, value = self._receive()
            if status != "ok":
                raise BomergeError(f"the evaluation process could not load the study: {value}")
            self._described = value
        return self._described

    def call(self, name: str, *arguments: Any) -> Any:
        self.describe()
        try:
            self._connection.send((name, arguments))
        except OSError:
            raise ProcessDied(self._exitcode()) from None
        status, value = self._receive()
        if status != "ok":
            raise BomergeError(f"the evaluation process failed in {name}:\n{value}")
        return value

    def _receive(self) -> tuple[str, Any]:
        try:
            return self._connection.recv()
        except (EOFError, OSError):
            raise ProcessDied(self._exitcode()) from None

    def _exitcode(self) -> int | None:
        try:
            return self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """End the process now, whatever it is doing."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._connection.close()


class ProcessDied(Exception):
    def __init__(self, exitcode: int | None) -> None:
        super().__init__(f"the evaluation process died (exit code {exitcode})")


@register
class InEvaluationProcess(Overlapped):
    name = "process"

    def __init__(self, context: ExecutorContext) -> None:
        from bomerge.search.workbench import resolve_device

        super().__init__(context)
        # `device: auto` splits as the device it resolves to
        self.threads = thread_split(available_cores(),
                                    resolve_device(context.config.device).type)
        self._process: EvaluationProcess | None = None

    def __enter__(self) -> InEvaluationProcess:
        import torch

        self._study_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads[1])
        # started now, so it loads while the first batch is generated
        self._process = EvaluationProcess(self.context, self.threads[0])
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        self._closing = True
        if self._process is not None:
            self._process.close()  # the worker thread's wait ends; its trial stays RUNNING
        super().__exit__(*exc)
        torch.set_num_threads(self._study_threads)

    def _score(self, params: dict[str, float], relay: ChunkDecision | None) -> TrialOutcome:
        process = self._process
        assert process is not None, "scored outside the executor's context"
        started = time.time()
        try:
            if relay is None:
                return process.call("evaluate", params)
            value = process.call("start", params)
            while not isinstance(value, TrialOutcome):
                value = process.call("stop" if relay(value) else "step")
            return value
        except ProcessDied as died:
            if self._closing:
                raise
            process.close()
            self._process = EvaluationProcess(self.context, self.threads[0])
            return TrialOutcome(None, str(died), 0.0, time.time() - started, started,
                                time.time())
