"""Running a study: open → baselines → search loop → finish. Trials are scored on the
selection rows only; the pick and the baselines once more at the end on the report rows.
Whatever the executor, only this process talks to Ax and writes the study's files
(docs/concepts.md, docs/architecture.md)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.merge import build_method
from bomerge.merge.base import MergeMethod
from bomerge.search.baselines import (
    INDIVIDUAL,
    METHOD_BASELINES,
    BaselineResult,
    BaselineRunner,
    baseline_needs_base,
    default_baselines,
    expand,
)
from bomerge.search.batch_generation import propose
from bomerge.search.batching import BatchSize
from bomerge.search.client import open_client, study_design
from bomerge.search.consecutive_failures import ConsecutiveFailures
from bomerge.search.executors import ExecutorContext, PendingTrial, executor_for
from bomerge.search.pareto import TrialRecord
from bomerge.search.picks import study_picks, study_result
from bomerge.search.preflight import check_points, task_supports, unsupported_message
from bomerge.search.rebuild import report_scores
from bomerge.search.recording import Finished, TrialRecorder
from bomerge.search.records import (
    StudyOutcome,
    baseline_records,
    log_entry,
    pickable,
    study_objectives,
    trial_record,
)
from bomerge.search.space import lift_point, study_space
from bomerge.search.stopping.judge import ChunkJudge, stopping_strategy
from bomerge.search.strategies import get_strategy
from bomerge.search.study.ax_tables import trial_of_experiment
from bomerge.search.study.completion import complete_trial
from bomerge.search.study.recovery import interrupted_trials, is_search_trial, unlogged_trials
from bomerge.search.study.store import StudyStore
from bomerge.search.torch_threads import generation_threads
from bomerge.search.trial import ChunkDecision, TrialOutcome, evaluate_point
from bomerge.search.workbench import Workbench
from bomerge.tasks import Task

__all__ = ["StudyRunner"]


class StudyRunner:
    """A study in progress: the workbench (pool, evaluators, prepared method) and the Ax
    client that proposes trials."""

    def __init__(self, store: StudyStore, config: StudyConfig, show_progress: bool = True,
                 allow_changed_candidates: bool = False) -> None:
        self.store = store
        self.config = config
        self.show_progress = show_progress
        self.bench = Workbench(store, config, show_progress, allow_changed_candidates)
        self.console = self.bench.console
        self.task: Task = self.bench.task

    # ---- set-up ---------------------------------------------------------------------
    def open(self) -> None:
        """Load candidates, evaluators and the Ax client (training candidates if needed)."""
        url = self.store.connect()
        self.bench.open()
        self.pool = self.bench.pool
        self.method: MergeMethod = self.bench.study_method()
        self.bench.prepared(self.method)
        self.space = study_space(self.config, self.method, self.pool.k)
        self.client = self._client(url)
        self.strategy = get_strategy(self.config.search.strategy)
        self.strategy.prepare()
        self.judge = ChunkJudge(self.client)
        if self.stopping:
            self.client.set_early_stopping_strategy(
                stopping_strategy(self.config.search.early_stopping, self.bench.selection.n,
                                  study_objectives(self.config)))

    @property
    def stopping(self) -> bool:
        """Whether trials are scored chunk by chunk and may be stopped early."""
        return self.config.search.early_stopping.enabled

    def _progression(self) -> int | None:
        """The progression a full evaluation is attached at: all selection rows when trials
        are stopped early (Ax compares running scores by rows seen), else none."""
        return self.bench.selection.n if self.stopping else None

    def decide_for(self, index: int, stoppable: bool = True) -> ChunkDecision | None:
        """What judges trial ``index`` after each chunk (main thread), or None to score its
        rows in one go; baseline arms and ``search.points`` are scored chunk by chunk too
        (reference curves) but never stopped."""
        return self.judge.for_trial(index, stoppable) if self.stopping else None

    def _client(self, url: str) -> Any:
        design = study_design(self.config, self.space, study_objectives(self.config))
        return open_client(self.config.name, url, self.config.seed, design)

    # ---- trials ---------------------------------------------------------------------
    def _run_trial(self, index: int, params: dict[str, float], progress: Progress,
                   stoppable: bool = True) -> str | None:
        """Merge, evaluate and complete one trial; returns None, or the reason it failed."""
        outcome = self._evaluate(params, self.decide_for(index, stoppable))
        return self._record_trials([Finished(index, outcome)], progress)[0]

    def _evaluate(self, params: dict[str, float],
                  on_chunk: ChunkDecision | None = None) -> TrialOutcome:
        """Merge and score one point (no Ax or file access of its own, so an executor may
        run it beside the main thread; ``on_chunk`` is the main thread's to call)."""
        return evaluate_point(self.bench, self.method, self.space, params, on_chunk)

    def _record_trials(self, finished: list[Finished], progress: Progress) -> list[str | None]:
        """Complete finished trials in Ax and log them, together (``recording``); for each,
        None or the reason it failed. A failed trial (it raised, or scored a non-finite loss
        or metric) is marked FAILED and the study goes on; a KeyboardInterrupt leaves the
        trials not yet written RUNNING, to be re-run on resume."""
        recorder = TrialRecorder(self.client, self.store, self.task.metric,
                                 self.bench.selection.n, self._progression(), self.record)
        return recorder(finished, progress.console)

    # ---- baselines ------------------------------------------------------------------
    def _baseline_names(self) -> list[str]:
        """The baselines run before the search: the whole suite for a warm start, else the
        single candidates, the uniform soup and each of the study's methods' own recipe."""
        search = self.config.search
        if search.warm_start:
            cross_task = self.config.candidates.tasks is not None
            return list(self.config.baselines or default_baselines(cross_task))
        if not search.baselines:
            return []
        own = [m.name for m in self.method.methods() if m.name in METHOD_BASELINES]
        return ["candidates", "uniform", *own]

    def attach_arm(self, label: str, method: MergeMethod, values: Any,
                   result: BaselineResult) -> int | None:
        """Make a baseline an Ax arm (completed with its selection scores) when it is a point
        of the study's search space; returns its trial index, or None."""
        point = self.method.point_of(method, dict(values), self.pool.k)
        if point is None:
            return None
        experiment = self.client._experiment
        params = self.space.encode(point)
        for index, trial in experiment.trials.items():
            if trial.arm is None:
                continue
            if trial.arm.name == label:
                return index
            if trial.arm.parameters == params:
                # The same point under another label (greedy soup that kept one candidate):
                # Ax holds one arm per point.
                return index
        index = self.client.attach_trial(params, arm_name=label)
        if self.stopping:
            for rows, scores in result.extra.get("curve", []):
                self.client.attach_data(index, scores, progression=rows)
        complete_trial(self.client, index, dict(result.selection), self._progression())
        self.store.append_log(log_entry(self.record(index)) | {
            "merge_s": result.seconds["merge"], "eval_s": result.seconds["evaluate"],
            "rows": self.bench.selection.n})
        return index

    def run_baselines(self, names: list[str], rerun: bool = False, strict: bool = False,
                      echo: Any = None) -> tuple[list[BaselineResult], set[str]]:
        """Run baselines through the evaluator, record them in the study, attach in-space
        ones as Ax arms. Recorded ones are skipped unless ``rerun``.

        Returns the results of every asked baseline (recorded or new, in order) and the
        labels computed by this call."""
        recorded = self.store.read_baselines()
        runner = BaselineRunner(self.bench, attach=self.attach_arm, echo=echo or self.console.print)
        runner.results = {label: BaselineResult(**rec) for label, rec in recorded.items()}
        unsupported = [n for n in names if n in METHOD_BASELINES
                       and not task_supports(self.task, build_method(n))]
        if unsupported and strict:
            raise BomergeError(unsupported_message(self.task, build_method(unsupported[0])))
        if unsupported:
            (echo or self.console.print)(f"[yellow]skipping {', '.join(unsupported)}: task "
                                         f"'{self.task.name}' defines no statistics for them[/]")
            names = [n for n in names if n not in unsupported]
        if self.bench.owners is None and INDIVIDUAL in names:
            if strict:
                raise BomergeError("baseline 'individual' is the unmerged candidates of a "
                                   "cross-task study (task multi)")
            names = [n for n in names if n != INDIVIDUAL]
        if not strict and self.bench.base is None:
            missing = [n for n in names if baseline_needs_base(n)]
            if missing:
                (echo or self.console.print)(
                    f"[yellow]skipping {', '.join(missing)}: no base model (candidates.base)[/]"
                )
                names = [n for n in names if n not in missing]
        # An in-space baseline counts as done only once its Ax trial completed (a crash
        # between the two writes re-runs it); greedy soup may share another label's arm.
        completed = {i for i, t in self.client._experiment.trials.items() if t.status.is_completed}
        skip = set() if rerun else {
            label for label in recorded
            if recorded[label]["trial"] is None or recorded[label]["trial"] in completed
        }
        fresh = {}
        for result in runner.run(names, skip):
            self.store.append_baseline(result.to_json())
            fresh[result.label] = result
        shown = [fresh.get(label) or runner.results.get(label)
                 for label in expand(names, self.bench.pool.k)]
        return [r for r in shown if r is not None], set(fresh)

    # ---- the study ------------------------------------------------------------------
    def run(self, extra_trials: int | None = None) -> StudyOutcome:
        """Run (or continue) the study: ``extra_trials`` more search trials (the target
        recorded first), else the budget (a recorded target, else ``search.trials``). On
        KeyboardInterrupt the trial in flight stays RUNNING, re-run next time."""
        self.open()
        started = self._search_trials_started()
        if extra_trials is not None:
            # before any trial: an interrupted run is finished by a plain `resume`
            self.store.record_budget(started + extra_trials)
            target = started + extra_trials
        else:
            target = self.store.search_budget(self.config)
        progress = Progress(
            TextColumn("[bold]study[/] {task.description}"), BarColumn(),
            TextColumn("{task.completed}/{task.total} trials"), TimeElapsedColumn(),
            console=self.console, disable=not self.show_progress,
        )
        failures = ConsecutiveFailures(self.config.search.max_consecutive_failures, self.store.name)
        with progress:
            for trial in interrupted_trials(self.client):
                # Evaluation is deterministic: re-running gives the result the interrupted
                # run would have recorded, and the trial is counted once.
                if not (trial.status.is_running or trial.status.is_completed):
                    trial.mark_running(no_runner_required=True)
                failures.add(trial.index, self._run_trial(
                    trial.index, dict(trial.arm.parameters), progress, is_search_trial(trial)))
            self._complete_log()
            self.run_baselines(self._baseline_names(), echo=progress.console.print)
            for label, values in self._user_points():
                attached = self._attach_point(label, values, progress)
                if attached is not None:
                    failures.add(*attached)
            done = self._search_trials_started()
            bar = progress.add_task(self.store.name, total=max(target, done), completed=done)
            self._search(done, target, progress, bar, failures)
        return self.finish()

    def _generate(self, q: int) -> tuple[list[tuple[int, dict[str, float]]], float]:
        """Up to q new trials (the RUNNING ones pending; one call per batch where it can,
        ``batch_generation``) and the seconds it took; none while the GP has no scores yet
        (a pipeline asks again while the first Sobol batch is evaluated)."""
        from ax.exceptions.core import DataRequiredError

        started = time.perf_counter()
        self.client._random_seed = self.strategy.seed_for_call(
            self.config.seed, len(self.client._experiment.trials))
        try:
            with generation_threads(self.config.search.generation_threads):
                proposed = propose(self.client, q, joint=not self.strategy.reseed_each_call)
        except DataRequiredError:
            proposed = {}
        return list(proposed.items()), time.perf_counter() - started

    def _search(self, done: int, target: int, progress: Progress, bar: Any,
                failures: ConsecutiveFailures) -> None:
        """The loop of every executor: generate what it takes, hand over, wait for an
        outcome, refill the freed slot, then record (in finishing order)."""
        name = self.store.name
        queue: deque[PendingTrial] = deque()
        started = done
        batch = BatchSize(self.config.search.batch_size)
        context = ExecutorContext(self.config, self._evaluate, self.store.directory,
                                  self.bench.paths, self.bench.base_folder, progress.console,
                                  self.decide_for, batch)

        def generate() -> None:
            nonlocal started
            q = min(executor.wanted(len(queue)), target - started)
            if q <= 0:
                return
            if executor.announces_generation:
                progress.update(bar, description=f"{name}: generating")
            trials, gen_s = self._generate(q)
            if not trials:
                return
            batch.generated(gen_s)
            queue.extend(PendingTrial(i, p, gen_s / len(trials)) for i, p in trials)
            started += len(trials)

        def hand_over() -> None:
            while queue and executor.free:
                executor.submit(queue.popleft())

        with executor_for(self.config)(context) as executor:
            while done < target:
                if executor.busy:
                    progress.update(bar, description=f"{name}: {executor.status()}")
                generate()
                hand_over()
                if not executor.busy:
                    break  # the generation strategy proposed nothing more
                progress.update(bar, description=f"{name}: {executor.status()}")
                generate()  # what the executor takes while trials are in flight (Executor.wanted)
                # every trial that finished meanwhile, recorded in one write (``recording``)
                finished = [executor.next_finished(), *executor.finished_now()]
                for _, outcome in finished:
                    batch.evaluated(outcome.merge_s + outcome.eval_s)
                hand_over()
                reasons = self._record_trials(
                    [Finished(t.index, o, {"gen_s": t.gen_s}) for t, o in finished], progress)
                for (trial, _), reason in zip(finished, reasons, strict=True):
                    failures.add(trial.index, reason)
                done += len(finished)
                progress.update(bar, completed=done)

    def _user_points(self) -> list[tuple[str, dict[str, Any]]]:
        points = check_points(self.config, self.method, self.pool.k,
                              str(self.store.config_path))
        return [(f"point_{i + 1}", values) for i, values in enumerate(points)]

    def _attach_point(self, label: str, values: dict[str, Any],
                      progress: Progress) -> tuple[int, str | None] | None:
        """Evaluate a ``search.points`` recipe as a labelled arm (once: a recorded label is
        skipped; a crash mid-way leaves it RUNNING, and it is re-run above)."""
        if any(t.arm is not None and t.arm.name == label
               for t in self.client._experiment.trials.values()):
            return None
        params = self.space.encode(lift_point(self.method, values, self.pool.k))
        index = self.client.attach_trial(params, arm_name=label)
        return index, self._run_trial(index, params, progress, stoppable=False)

    def _complete_log(self) -> None:
        """Add log lines for trials Ax committed just before an interruption."""
        for index in unlogged_trials(self.client, self.store):
            self.store.append_log(log_entry(self.record(index)))

    def _search_trials_started(self) -> int:
        return sum(1 for t in self.client._experiment.trials.values() if is_search_trial(t))

    # ---- results --------------------------------------------------------------------
    def record(self, index: int) -> TrialRecord:
        return trial_record(trial_of_experiment(self.client._experiment, index), self.space,
                            self.method)

    def finish(self) -> StudyOutcome:
        """Pick on the selection rows among everything the study scored (``search.pick_from``;
        the rule on the observed scores and on the surrogate's posterior means,
        ``search.pick_by`` saying which is the pick), score both picks on the report rows,
        and store the result with every recorded baseline's report scores and the pick's
        paired bootstrap intervals against them."""
        records = [self.record(i) for i in sorted(self.client._experiment.trials)]
        picks = study_picks(pickable(records, self.store, self.config), self.config, self.client)
        if picks.note is not None:
            self.console.print(f"[yellow]{picks.note}[/]")
        baselines = self.store.read_baselines()
        scored: dict[tuple[int | None, str], tuple[dict[str, Any], str | None]] = {}
        for record in picks.records().values():  # the same merge is scored once
            key = (record.index, record.arm)
            if key not in scored:
                scored[key] = report_scores(self.bench, self.client, record, baselines)
        reported = {way: scored[(r.index, r.arm)] for way, r in picks.records().items()}
        report = study_result(self.config, self.bench.report.task, self.store, records, picks,
                              reported, self.pool.k,
                              (len(self.bench.selection_rows), len(self.bench.report_rows)))
        self.store.write_result(report)
        return StudyOutcome(records, picks.pick, report, True, baseline_records(self.store))
