"""``ray`` (``executor: ray``): search trials on Ray, one actor per GPU (or CPU slot).

Each actor loads the study's candidates, the base, the prepared merge method (its
statistics read from the study's cache) and the tokenized selection rows once, and keeps
them resident across trials; a trial sends only the Ax parameters in and the scores back.
The study process stays the only one that talks to Ax and writes study files: it generates
as many trials as there are idle workers (the trials still running are pending points of
the acquisition), and records each outcome as it arrives.

Actors open the candidate folders and the study folder by path, so on a multi-machine
cluster those paths must be visible on every node (a shared filesystem) and bomerge must be
installed on every node.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.search.executors.base import Executor, ExecutorContext, PendingTrial, register
from bomerge.search.executors.trial_worker import TrialWorker
from bomerge.search.ray_cluster import check_reachable, import_ray
from bomerge.search.trial import ChunkDecision, TrialOutcome


class RayTrialWorker(TrialWorker):
    """The body of one Ray actor: the threads and the GPU Ray gave it, then the study's
    workbench."""

    def __init__(self, study_dir: str, config: StudyConfig, paths: list[str],
                 base: str | None) -> None:
        import ray
        import torch

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus:
            # Ray sets OMP_NUM_THREADS=1 in workers; use the CPUs this actor was given.
            torch.set_num_threads(max(1, int(cpus)))
        if config.device.startswith("cuda"):
            # Ray exposes the actor's GPU alone (CUDA_VISIBLE_DEVICES): it is cuda:0 here.
            config = config.model_copy(update={"device": "cuda"})
        super().__init__(study_dir, config, paths, base)


@dataclass(frozen=True)
class WorkerShape:
    """How many trial workers and what each one asks of the cluster."""

    workers: int
    cpus: float
    gpus: float

    @classmethod
    def for_cluster(cls, config: StudyConfig, resources: dict[str, float]) -> WorkerShape:
        settings = config.ray
        gpus = settings.gpus_per_worker
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 and config.device != "cpu" else 0.0
        workers = settings.workers
        if workers is None:
            if gpus > 0:
                workers = int(resources.get("GPU", 0) // gpus)
            else:
                workers = int(resources.get("CPU", 1) // settings.cpus_per_worker)
        return cls(max(1, workers), settings.cpus_per_worker, gpus)


@register
class OnRay(Executor):
    """The executor of ``executor: ray``: starts the trial workers, submits points to idle
    ones and hands outcomes back in the order they finish. As many trials are in flight as
    there are workers; whenever some are idle, the runner generates that many trials in one
    call (those still running are pending points of the acquisition).

    Leaving the context kills the workers (a trial still in flight stays RUNNING in Ax and
    is re-run on resume) and stops the Ray instance it started."""

    name = "ray"

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        self._started_ray = False
        self._idle: list[Any] = []
        # The one record of what is in flight: each Ray result reference, with the trial it
        # scores, the worker scoring it and what judges its chunks (None: scored in one go).
        self._in_flight: dict[Any, tuple[PendingTrial, Any, ChunkDecision | None]] = {}

    @classmethod
    def check_available(cls) -> None:
        import_ray()

    def __enter__(self) -> OnRay:
        ray = import_ray()
        config = self.context.config
        if not ray.is_initialized():
            address = config.ray.address
            check_reachable(address or os.environ.get("RAY_ADDRESS"))
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except Exception as error:  # noqa: BLE001 - connection and start-up errors vary
                where = address or os.environ.get("RAY_ADDRESS") or "a local instance"
                raise BomergeError(f"ray.address {where}: cannot start or reach Ray "
                                   f"({type(error).__name__}: {error})") from None
            self._started_ray = True
        self.shape = WorkerShape.for_cluster(config, ray.cluster_resources())
        self._actor = ray.remote(RayTrialWorker).options(
            num_cpus=self.shape.cpus, num_gpus=self.shape.gpus, max_restarts=0
        )
        console = self.context.console
        with console.status(f"starting {self.shape.workers} Ray trial workers"):
            workers = [self._new_worker() for _ in range(self.shape.workers)]
            try:
                places = ray.get([w.describe.remote() for w in workers])
            except ray.exceptions.RayError as error:
                self._idle = workers
                self.__exit__(None, None, None)
                raise BomergeError(
                    f"a Ray trial worker could not load the study: {error}") from None
        self._idle = workers
        console.print(f"Ray: {len(workers)} trial workers ({', '.join(places)})", highlight=False)
        return self

    def _new_worker(self) -> Any:
        context = self.context
        base = str(context.base) if context.base else None
        return self._actor.remote(str(context.study_dir), context.config,
                                  [str(p) for p in context.paths], base)

    @property
    def idle(self) -> int:
        """Workers with no trial."""
        return len(self._idle)

    @property
    def busy(self) -> int:
        return len(self._in_flight)

    @property
    def free(self) -> bool:
        return bool(self._idle)

    def wanted(self, queued: int) -> int:
        return max(0, len(self._idle) - queued)

    def submit(self, trial: PendingTrial) -> None:
        worker = self._idle.pop()
        decide = self.context.decide_for(trial.index)
        call = worker.evaluate if decide is None else worker.start
        self._in_flight[call.remote(trial.params)] = (trial, worker, decide)

    def next_finished(self) -> tuple[PendingTrial, TrialOutcome]:
        """Wait for the first trial in flight to finish.

        A trial judged chunk by chunk comes back after each chunk with its running scores:
        they are judged here (the driver alone talks to Ax) and the worker is told to score
        the next chunk or to stop. A worker that died (killed for memory, its node lost)
        fails its trial with the reason and is replaced."""
        ray = import_ray()
        if not self._in_flight:
            raise BomergeError("no Ray trial in flight to wait for")
        while True:
            (ref,), _ = ray.wait(list(self._in_flight), num_returns=1)
            finished = self._take(ref)
            if finished is not None:
                return finished

    def finished_now(self) -> list[tuple[PendingTrial, TrialOutcome]]:
        if not self._in_flight:
            return []
        ray = import_ray()
        ready, _ = ray.wait(list(self._in_flight), num_returns=len(self._in_flight), timeout=0)
        return [finished for finished in map(self._take, ready) if finished is not None]

    def _take(self, ref: Any) -> tuple[PendingTrial, TrialOutcome] | None:
        """A ready call's result: the trial's outcome, or None after a chunk (judged, and the
        worker told to go on or stop)."""
        ray = import_ray()
        trial, worker, decide = self._in_flight.pop(ref)
        try:
            value = ray.get(ref)
        except ray.exceptions.RayError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            value = TrialOutcome(None, f"Ray worker failed: {type(error).__name__}: "
                                 f"{first_line}", 0.0, 0.0)
            ray.kill(worker)
            worker = self._new_worker()
        if isinstance(value, TrialOutcome):
            self._idle.append(worker)
            return trial, value
        assert decide is not None
        call = worker.stop if decide(value) else worker.step
        self._in_flight[call.remote()] = (trial, worker, decide)
        return None

    def status(self) -> str:
        return f"{len(self._in_flight)} on Ray"

    def __exit__(self, *exc: object) -> None:
        ray = import_ray()
        for worker in [*self._idle, *(w for _, w, _ in self._in_flight.values())]:
            ray.kill(worker)
        self._idle, self._in_flight = [], {}
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
