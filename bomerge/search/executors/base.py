"""What an executor is: where a study's trials are evaluated, and how many at a time.

An executor only scores points. The runner's one search loop asks it how many new trials
it can take, generates them (Ax, main process), hands them over, waits for the next
outcome and records it (Ax and the study files, main process). Executors differ only in
where a point is scored and how far generation may run ahead of evaluation:

* ``in_turn``: in the study process, one trial after another; a batch of ``search.batch_size``
  is generated when nothing is left to evaluate.
* ``overlapped``: in a worker thread of the study process, a pipeline: the main thread
  generates the next batch while the worker evaluates the current one (the trials in flight
  and queued are pending points of the acquisition).
* ``process``: the ``overlapped`` pipeline with the evaluations in a process of their own,
  so the GP and the evaluation do not share a torch thread pool.
* ``ray``: on Ray actors, one trial per idle worker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, get_args

from rich.console import Console

from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.search.trial import ChunkDecision, TrialOutcome


@dataclass(frozen=True)
class PendingTrial:
    """A generated trial on its way to an executor; ``gen_s`` is its share of the seconds
    of the generation call that proposed it."""

    index: int
    params: dict[str, float]
    gen_s: float


def _never_judged(index: int) -> ChunkDecision | None:
    return None


@dataclass(frozen=True)
class ExecutorContext:
    """What an executor may use: the study's config, the in-process scoring function, the
    folders a worker in another process opens by path, and ``decide_for``: what judges a
    trial after each chunk of its rows (None: score them in one go). A decision attaches
    data to Ax, so it runs in the study's main thread: an executor that scores elsewhere
    hands each chunk's running scores back and waits for the answer."""

    config: StudyConfig
    evaluate: Callable[[dict[str, float], ChunkDecision | None], TrialOutcome]
    study_dir: Path
    paths: list[Path]
    base: Path | None
    console: Console
    decide_for: Callable[[int], ChunkDecision | None] = _never_judged
    #: q, the trials generated per call: ``search.batch_size``, or the runner's measured
    #: choice under ``batch_size: auto``
    batch_size: Callable[[], int] = lambda: 1


class Executor(ABC):
    """Evaluates submitted trials and hands back their outcomes. A context manager: entering
    starts its workers, leaving stops them (a trial still in flight stays RUNNING in Ax and
    is re-run on resume).

    Class attributes:
        name: the registry key (see ``executor_for``).
        announces_generation: the progress bar says "generating" while trials are generated
            (false where generation overlaps an evaluation the bar already names).
    """

    name: ClassVar[str]
    announces_generation: ClassVar[bool] = True

    def __init__(self, context: ExecutorContext) -> None:
        self.context = context

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @property
    @abstractmethod
    def busy(self) -> int:
        """Trials submitted and not yet handed back."""

    @property
    @abstractmethod
    def free(self) -> bool:
        """Whether a trial submitted now is taken at once."""

    @classmethod  # noqa: B027 - an optional hook, no-op by default
    def check_available(cls) -> None:
        """Refuse (BomergeError, one line saying what to install) before any work when this
        executor cannot run here. The preflight calls it; nothing to check by default."""

    @abstractmethod
    def wanted(self, queued: int) -> int:
        """How many new trials to generate now, ``queued`` being generated and not yet
        submitted (the runner caps it at what is left of the budget).

        The runner asks twice per step of its loop: before handing queued trials over, and
        again with trials in flight, just before it waits in ``next_finished``. Trials asked
        for the second time are generated while those in flight are evaluated (they are
        pending points of the acquisition) and handed over as soon as a slot frees. An
        executor that evaluates beside the study process (a worker thread, Ray actors)
        answers more than zero then to keep its slots busy; one that evaluates inside
        ``next_finished`` answers zero while a trial is in flight, so no trial is generated
        before those handed over earlier are recorded."""

    @abstractmethod
    def submit(self, trial: PendingTrial) -> None:
        """Start (or queue for the next ``next_finished``) the evaluation of ``trial``."""

    @abstractmethod
    def next_finished(self) -> tuple[PendingTrial, TrialOutcome]:
        """Wait for the next trial to finish; its outcome holds the reason if it failed."""

    def finished_now(self) -> list[tuple[PendingTrial, TrialOutcome]]:
        """The trials that have finished by now, without waiting (the runner records them
        with the one ``next_finished`` returned, in one write). None by default: an
        executor that evaluates inside ``next_finished`` has nothing else finished."""
        return []

    @abstractmethod
    def status(self) -> str:
        """What is being evaluated, for the progress bar."""


EXECUTORS: dict[str, type[Executor]] = {}


def register(cls: type[Executor]) -> type[Executor]:
    EXECUTORS[cls.name] = cls
    return cls


def get_executor(name: str) -> type[Executor]:
    if name not in EXECUTORS:
        raise BomergeError(f"unknown executor '{name}' (known: {', '.join(sorted(EXECUTORS))})")
    return EXECUTORS[name]


def executor_names() -> tuple[str, ...]:
    """The names a config's ``executor`` takes (its field's ``Literal``), each of which
    ``executor_for`` resolves: ``--executor`` is checked against the same list."""
    return get_args(StudyConfig.model_fields["executor"].annotation)


def executor_for(config: StudyConfig) -> type[Executor]:
    """``executor: local`` evaluates in the study process, overlapped with generation when
    ``search.overlap``; any other ``executor`` is the registered executor of that name."""
    if config.executor == "local":
        return get_executor("overlapped" if config.search.overlap else "in_turn")
    return get_executor(config.executor)
