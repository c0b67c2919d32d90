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
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.search.executors.base import Executor, ExecutorContext, PendingTrial, register
from bomerge.search.ray_cluster import check_reachable, import_ray
from bomerge.search.trial import TrialOutcome, evaluate_point


class TrialWorker:
    """The body of one Ray actor: a study's workbench, loaded once, scoring points."""

    def __init__(self, study_dir: str, config: StudyConfig, paths: list[str],
                 base: str | None) -> None:
        import ray
        import torch

        from bomerge.search.space import SearchSpace
        from bomerge.search.store import StudyStore
        from bomerge.search.workbench import Workbench

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus:
            # Ray sets OMP_NUM_THREADS=1 in workers; use the CPUs this actor was given.
            torch.set_num_threads(max(1, int(cpus)))
        if config.device.startswith("cuda"):
            # Ray exposes the actor's GPU alone (CUDA_VISIBLE_DEVICES): it is cuda:0 here.
            config = config.model_copy(update={"device": "cuda"})
        self.bench = Workbench(StudyStore(Path(study_dir)), config, show_progress=False)
        self.bench.load([Path(p) for p in paths], Path(base) if base else None)
        self.method = self.bench.method(config.merge.method)
        self.bench.prepared(self.method)
        self.space = SearchSpace(self.method.variables(self.bench.pool.k), config.merge.encoding)

    def describe(self) -> str:
        return f"pid {os.getpid()} on {socket.gethostname()}, {self.bench.device}"

    def evaluate(self, params: dict[str, float]) -> TrialOutcome:
        return evaluate_point(self.bench, self.method, self.space, params)


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


class RayTrials:
    """The study side of ``executor: ray``: starts the workers, submits points to idle ones
    and hands outcomes back in the order they finish.

    Used as a context manager; leaving it kills the workers (a trial still in flight stays
    RUNNING in Ax and is re-run on resume) and stops the Ray instance it started."""

    def __init__(self, study_dir: Path, config: StudyConfig, paths: list[Path],
                 base: Path | None, console: Console) -> None:
        self.study_dir, self.config, self.console = study_dir, config, console
        self.paths, self.base = [str(p) for p in paths], str(base) if base else None
        self._started_ray = False
        self._idle: list[Any] = []
        self._in_flight: dict[Any, tuple[int, Any, float]] = {}

    def __enter__(self) -> RayTrials:
        ray = import_ray()
        if not ray.is_initialized():
            address = self.config.ray.address
            check_reachable(address or os.environ.get("RAY_ADDRESS"))
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except Exception as error:  # noqa: BLE001 - connection and start-up errors vary
                where = address or os.environ.get("RAY_ADDRESS") or "a local instance"
                raise BomergeError(f"ray.address {where}: cannot start or reach Ray "
                                   f"({type(error).__name__}: {error})") from None
            self._started_ray = True
        self.shape = WorkerShape.for_cluster(self.config, ray.cluster_resources())
        self._actor = ray.remote(TrialWorker).options(
            num_cpus=self.shape.cpus, num_gpus=self.shape.gpus, max_restarts=0
        )
        with self.console.status(f"starting {self.shape.workers} Ray trial workers"):
            workers = [self._new_worker() for _ in range(self.shape.workers)]
            try:
                places = ray.get([w.describe.remote() for w in workers])
            except ray.exceptions.RayError as error:
                self.__exit__(None, None, None)
                raise BomergeError(f"a Ray trial worker could not load the study: {error}") from None
        self._idle = workers
        self.console.print(f"Ray: {len(workers)} trial workers ({', '.join(places)})", highlight=False)
        return self

    def _new_worker(self) -> Any:
        return self._actor.remote(str(self.study_dir), self.config, self.paths, self.base)

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def busy(self) -> int:
        return len(self._in_flight)

    def submit(self, index: int, params: dict[str, float], gen_s: float) -> None:
        worker = self._idle.pop()
        self._in_flight[worker.evaluate.remote(params)] = (index, worker, gen_s)

    def next_finished(self) -> tuple[int, TrialOutcome, float]:
        """Wait for the first trial in flight to finish: (index, outcome, generation s).

        A worker that died (killed for memory, its node lost) fails its trial with the
        reason and is replaced."""
        ray = import_ray()
        if not self._in_flight:
            raise BomergeError("no Ray trial in flight to wait for")
        (ref,), _ = ray.wait(list(self._in_flight), num_returns=1)
        index, worker, gen_s = self._in_flight.pop(ref)
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            outcome = TrialOutcome(None, f"Ray worker failed: {type(error).__name__}: {first_line}",
                                   0.0, 0.0)
            ray.kill(worker)
            worker = self._new_worker()
        self._idle.append(worker)
        return index, outcome, gen_s

    def __exit__(self, *exc: object) -> None:
        ray = import_ray()
        for worker in [*self._idle, *(w for _, w, _ in self._in_flight.values())]:
            ray.kill(worker)
        self._idle, self._in_flight = [], {}
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


@register
class OnRay(Executor):
    """The executor of ``executor: ray``: as many trials in flight as there are workers;
    whenever some are idle, the runner generates that many trials in one call (those still
    running are pending points of the acquisition), and outcomes come back in the order
    they finish."""

    name = "ray"

    def __init__(self, context: ExecutorContext) -> None:
        super().__init__(context)
        self._trials = RayTrials(context.study_dir, context.config, context.paths,
                                 context.base, context.console)
        self._pending: dict[int, PendingTrial] = {}

    def __enter__(self) -> OnRay:
        self._trials.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._trials.__exit__(*exc)

    @property
    def busy(self) -> int:
        return self._trials.busy

    @property
    def free(self) -> bool:
        return self._trials.idle > 0

    def wanted(self, queued: int) -> int:
        return max(0, self._trials.idle - queued)

    def submit(self, trial: PendingTrial) -> None:
        self._pending[trial.index] = trial
        self._trials.submit(trial.index, trial.params, trial.gen_s)

    def next_finished(self) -> tuple[PendingTrial, TrialOutcome]:
        index, outcome, _ = self._trials.next_finished()
        return self._pending.pop(index), outcome

    def status(self) -> str:
        return f"{self._trials.busy} on Ray"
