"""Running a study: candidates → merge method → Ax (qLogNEHVI) ↔ evaluator → pick → report.

Data goes one way. The search scores trials only on the *selection* rows; the picked merge
and the baselines are scored once more at the end on the *report* rows, which nothing in the
search or the pick ever saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bomerge.baselines import (
    BASELINES,
    METHOD_BASELINES,
    SINGLE_PREFIX,
    BaselineResult,
    BaselineRunner,
    expand,
)
from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.evaluate import EvalResult
from bomerge.merge import build_method
from bomerge.merge.base import MergeMethod
from bomerge.search.completion import complete_trial
from bomerge.search.pareto import LOSS_METRIC, Objective, TrialRecord, pick
from bomerge.search.space import SearchSpace
from bomerge.search.store import StudyStore
from bomerge.search.strategy import load_acquisition_kernel, pinned_strategy
from bomerge.search.trial import TrialOutcome, evaluate_point
from bomerge.search.workbench import Workbench, candidate_paths, check_points, resolve_device
from bomerge.tasks.glue import TaskSpec, get_task

__all__ = ["StudyRunner", "candidate_paths", "load_records", "resolve_device"]

UNIFORM_ARM = "uniform"
OBJECTIVE = "-loss, metric"


def candidate_arm(i: int) -> str:
    return f"{SINGLE_PREFIX}{i}"


@dataclass
class StudyOutcome:
    records: list[TrialRecord]
    pick: TrialRecord
    report: dict[str, Any]
    complete: bool
    baselines: list[TrialRecord]


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
        self.task: TaskSpec = self.bench.task

    # ---- set-up ---------------------------------------------------------------------
    def open(self) -> None:
        """Load candidates, evaluators and the Ax client (training candidates if needed)."""
        self._prepare()

    def _prepare(self) -> None:
        url = self.store.connect()
        self.bench.open()
        self.pool = self.bench.pool
        self.method: MergeMethod = self.bench.method(self.config.merge.method)
        self.bench.prepared(self.method)
        self.space = SearchSpace(self.method.variables(self.pool.k), self.config.merge.encoding)
        self.client = self._client(url)
        load_acquisition_kernel()

    def _client(self, url: str) -> Any:
        from ax.api.client import Client
        from ax.api.configs import StorageConfig

        search = self.config.search
        client = stored_client(self.config.name, url, self.config.seed)
        if client is not None:
            return client
        client = Client(storage_config=StorageConfig(url=url), random_seed=self.config.seed)
        client.configure_experiment(
            parameters=self.space.parameters(),
            parameter_constraints=self.space.constraints(),
            name=self.config.name,
        )
        thresholds = []
        objective = OBJECTIVE
        if search.objectives == "per_task":
            # qLogNEHVI over every sub-task's metric; loss and the average are recorded too.
            objective = ", ".join(name for name, _ in study_objectives(self.config))
        if search.loss_threshold is not None:
            thresholds.append(f"loss <= {search.loss_threshold}")
        if search.metric_threshold is not None:
            thresholds.append(f"metric >= {search.metric_threshold}")
        client.configure_optimization(objective, outcome_constraints=thresholds or None)
        client.set_generation_strategy(
            pinned_strategy(search.initial_trials, self.config.seed, search.num_restarts,
                            search.raw_samples)
        )
        return client

    # ---- trials ---------------------------------------------------------------------
    def merged_parameters(self, params: dict[str, float]) -> dict[str, torch.Tensor]:
        return self.bench.merge(self.method, self.space.decode(params))

    def _run_trial(self, index: int, params: dict[str, float], progress: Progress,
                   timing: dict[str, float] | None = None) -> str | None:
        """Merge, evaluate and complete one trial; returns None, or the reason it failed."""
        return self._record_trial(index, self._evaluate(params), progress, timing)

    def _evaluate(self, params: dict[str, float]) -> TrialOutcome:
        """Merge and score one point (no Ax or file access, so it may run in a worker
        thread while the main thread generates the next trial)."""
        return evaluate_point(self.bench, self.method, self.space, params)

    def _record_trial(self, index: int, outcome: TrialOutcome, progress: Progress,
                      timing: dict[str, float] | None = None) -> str | None:
        """Complete the trial in Ax and log it; returns None, or the reason it failed.

        A trial that raised (out of memory, a merge that cannot be formed) or scored a
        non-finite loss or metric is marked FAILED in Ax with the reason, logged, and the
        study goes on; a KeyboardInterrupt leaves it RUNNING, to be re-run on resume."""
        started = time.perf_counter()
        seconds = {"merge_s": round(outcome.merge_s, 4), "eval_s": round(outcome.eval_s, 4),
                   **{k: round(v, 4) for k, v in (timing or {}).items()},
                   "t_start": round(outcome.started_at, 4), "t_end": round(outcome.finished_at, 4)}
        if outcome.reason is not None:
            self.client.mark_trial_failed(index, failed_reason=outcome.reason[:1000])
            record = self.record(index)
            self.store.append_log(_log_entry(record) | {"reason": outcome.reason} | seconds)
            progress.console.print(f"trial {index:3d} [dim]{record.node:>9}[/] {record.arm:>12}  "
                                   f"[red]FAILED[/] {outcome.reason}", highlight=False)
            return outcome.reason
        result = outcome.result
        assert result is not None
        complete_trial(self.client, index, {"loss": result.loss, "metric": result.metric, **result.extra})
        record = self.record(index)
        seconds["book_s"] = round(time.perf_counter() - started, 4)
        self.store.append_log(_log_entry(record) | seconds)
        progress.console.print(
            f"trial {index:3d} [dim]{record.node:>9}[/] {record.arm:>12}  "
            f"loss {result.loss:.4f}  {self.task.metric} {result.metric:.4f}  "
            f"{_format_coefficients(record.coefficients)}"
        )
        return None

    def _baseline_names(self) -> list[str]:
        """The baselines run before the search: the whole suite for a warm start, else
        the single candidates, the uniform soup and the method's own default recipe."""
        search = self.config.search
        if search.warm_start:
            return list(self.config.baselines or BASELINES)
        if not search.baselines:
            return []
        own = [self.method.name] if self.method.name in METHOD_BASELINES else []
        return ["candidates", "uniform", *own]

    def attach_arm(self, label: str, method: MergeMethod, values: Any, result: BaselineResult) -> int | None:
        """Make a baseline an Ax arm (completed with its selection scores) when it is a point
        of the study's search space; returns its trial index, or None."""
        same = method.name == self.method.name and method.options == self.method.options
        if not same:
            return None
        experiment = self.client._experiment
        params = self.space.encode(dict(values))
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
        complete_trial(self.client, index, dict(result.selection))
        self.store.append_log(_log_entry(self.record(index)) | {"merge_s": result.seconds["merge"],
                                                                 "eval_s": result.seconds["evaluate"]})
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
        if self.task.is_multitask:
            from bomerge.search.workbench import multitask_unsupported_message, supports_multitask

            unsupported = [n for n in names if n in METHOD_BASELINES
                           and not supports_multitask(build_method(n))]
            if unsupported and strict:
                raise BomergeError(multitask_unsupported_message(build_method(unsupported[0])))
            if unsupported:
                (echo or self.console.print)(
                    f"[yellow]skipping {', '.join(unsupported)}: not defined for multitask models[/]")
                names = [n for n in names if n not in unsupported]
        if not strict and self.bench.base is None:
            missing = [n for n in names if n in METHOD_BASELINES and build_method(n).needs_base]
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
        shown = [fresh.get(label) or runner.results.get(label) for label in expand(names, self.bench.pool.k)]
        return [r for r in shown if r is not None], set(fresh)

    def run(self, extra_trials: int | None = None) -> StudyOutcome:
        """Run (or continue) the study; ``extra_trials`` asks for that many search trials
        beyond those done, otherwise the configured budget is completed.

        KeyboardInterrupt propagates; the trial in flight stays RUNNING in the store and is
        re-run by the next ``run``.
        """
        self._prepare()
        progress = Progress(
            TextColumn("[bold]study[/] {task.description}"), BarColumn(),
            TextColumn("{task.completed}/{task.total} trials"), TimeElapsedColumn(),
            console=self.console, disable=not self.show_progress,
        )
        failures = ConsecutiveFailures(self.config.search.max_consecutive_failures, self.store.name)
        with progress:
            for trial in self._interrupted_trials():
                # Evaluation is deterministic: re-running gives the result the interrupted
                # run would have recorded, and the trial is counted once.
                if not (trial.status.is_running or trial.status.is_completed):
                    trial.mark_running(no_runner_required=True)
                failures.add(trial.index,
                             self._run_trial(trial.index, dict(trial.arm.parameters), progress))
            self._complete_log()
            self.run_baselines(self._baseline_names(), echo=progress.console.print)
            for label, values in self._user_points():
                attached = self._attach_point(label, values, progress)
                if attached is not None:
                    failures.add(*attached)
            done = self._search_trials_started()
            target = self.config.search.trials if extra_trials is None else done + extra_trials
            bar = progress.add_task(self.store.name, total=max(target, done), completed=done)
            if self.config.executor == "ray":
                search = self._search_on_ray
            elif self.config.search.overlap:
                search = self._search_overlapped
            else:
                search = self._search_in_turn
            search(done, target, progress, bar, failures)
        return self.finish()

    def _generate(self, q: int) -> tuple[list[tuple[int, dict[str, float]]], float]:
        """Up to q new trials from the generation strategy (Ax passes RUNNING trials to the
        acquisition as pending points) and the seconds it took."""
        started = time.perf_counter()
        trials = [(i, dict(p)) for i, p in self.client.get_next_trials(max_trials=q).items()]
        return trials, time.perf_counter() - started

    def _search_in_turn(self, done: int, target: int, progress: Progress, bar: Any,
                        failures: ConsecutiveFailures) -> None:
        """Generate q trials, evaluate them one after another, repeat."""
        while done < target:
            progress.update(bar, description=f"{self.store.name}: generating")
            trials, gen_s = self._generate(min(self.config.search.batch_size, target - done))
            for index, params in trials:
                progress.update(bar, description=f"{self.store.name}: trial {index}")
                failures.add(index, self._run_trial(index, params, progress,
                                                    {"gen_s": gen_s / len(trials)}))
                done += 1
                progress.update(bar, completed=done)

    def _search_overlapped(self, done: int, target: int, progress: Progress, bar: Any,
                           failures: ConsecutiveFailures) -> None:
        """Keep the evaluator busy: while one trial is merged and evaluated in a worker
        thread, the main thread generates the next (the one in flight is a pending point of
        the acquisition), and a finished trial is recorded (Ax storage, the log) only after
        the next one has been handed to the worker, so neither the GP fit and acquisition
        optimisation nor the bookkeeping stand between two evaluations. Only the main thread
        touches Ax and the study files."""
        from concurrent.futures import ThreadPoolExecutor

        queue: list[tuple[int, dict[str, float], float]] = []
        started = done

        def generate() -> None:
            nonlocal started
            if not queue and started < target:
                trials, gen_s = self._generate(min(self.config.search.batch_size, target - started))
                queue.extend((i, p, gen_s / len(trials)) for i, p in trials)
                started += len(trials)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bomerge-eval") as worker:
            generate()
            current = queue.pop(0) if queue else None
            future = worker.submit(self._evaluate, current[1]) if current else None
            while done < target and current is not None and future is not None:
                progress.update(bar, description=f"{self.store.name}: trial {current[0]}")
                generate()  # the next trial, while the current one is evaluated
                outcome = future.result()
                finished, current = current, (queue.pop(0) if queue else None)
                future = worker.submit(self._evaluate, current[1]) if current else None
                failures.add(finished[0], self._record_trial(finished[0], outcome, progress,
                                                             {"gen_s": finished[2]}))
                done += 1
                progress.update(bar, completed=done)

    def _search_on_ray(self, done: int, target: int, progress: Progress, bar: Any,
                       failures: ConsecutiveFailures) -> None:
        """``executor: ray``: one trial per Ray worker in flight. Whenever workers are idle,
        one generation call proposes that many trials (those still running are pending
        points of the acquisition); outcomes are recorded in the order they finish."""
        from bomerge.search.ray_executor import RayTrials

        started = done
        with RayTrials(self.store.directory, self.config, self.bench.paths,
                       self.bench.base_folder, progress.console) as workers:
            while done < target:
                if workers.idle and started < target:
                    progress.update(bar, description=f"{self.store.name}: generating")
                    trials, gen_s = self._generate(min(workers.idle, target - started))
                    for index, params in trials:
                        workers.submit(index, params, gen_s / len(trials))
                    started += len(trials)
                progress.update(bar, description=f"{self.store.name}: {workers.busy} on Ray")
                index, outcome, gen_s = workers.next_finished()
                failures.add(index, self._record_trial(index, outcome, progress, {"gen_s": gen_s}))
                done += 1
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
        params = self.space.encode(values)
        index = self.client.attach_trial(params, arm_name=label)
        return index, self._run_trial(index, params, progress)

    def _interrupted_trials(self) -> list[Any]:
        """Trials a crash left unfinished: created but not started, RUNNING, or COMPLETED
        without their scores (stores written before ``completion.complete_trial`` saved data
        before status: Ax's own completion could leave a COMPLETED trial with no data)."""
        unfinished = []
        for trial in self.client._experiment.trials.values():
            if not trial.status.is_terminal:
                unfinished.append(trial)
            elif trial.status.is_completed and not self._scored(trial.index):
                unfinished.append(trial)
        return sorted(unfinished, key=lambda t: t.index)

    def _scored(self, index: int) -> bool:
        names = set(self.client._experiment.lookup_data(trial_indices=[index]).df["metric_name"])
        return {"loss", "metric"} <= names

    def _complete_log(self) -> None:
        """Add log lines for trials Ax committed just before an interruption."""
        logged = self.store.logged_trials()
        for index, trial in sorted(self.client._experiment.trials.items()):
            if trial.status.is_completed and index not in logged:
                self.store.append_log(_log_entry(self.record(index)))

    def _search_trials_started(self) -> int:
        return sum(
            1 for t in self.client._experiment.trials.values()
            if t.generator_runs and t.generator_runs[0]._generation_node_name is not None
        )

    # ---- results --------------------------------------------------------------------
    def record(self, index: int) -> TrialRecord:
        return trial_record(self.client, self.space, index, self.method.name)

    def finish(self) -> StudyOutcome:
        """Pick on the selection rows, score the pick on the report rows, and store the
        result with every recorded baseline's report scores."""
        records = [self.record(i) for i in sorted(self.client._experiment.trials)]
        chosen = choose(records, self.config)
        baselines = self.store.read_baselines()
        recorded = baselines.get(chosen.arm)
        if recorded is not None and recorded["trial"] == chosen.index:
            # A baseline arm was scored on the report rows when it ran: the same merge.
            report = dict(recorded["report"])
        else:
            params = dict(self.client._experiment.trials[chosen.index].arm.parameters)
            result: EvalResult = self.bench.report.evaluate(self.merged_parameters(params))
            report = {"loss": result.loss, "metric": result.metric, **result.extra}
        scored: dict[str, dict[str, Any]] = {
            "pick": {
                "trial": chosen.index, "arm": chosen.arm, "method": self.method.name,
                "selection": {"loss": chosen.loss, "metric": chosen.metric},
                "report": report,
            }
        }
        singles = [b for label, b in baselines.items() if label.startswith(SINGLE_PREFIX)]
        named: dict[str, dict[str, Any]] = {}
        if singles:
            named["best_single"] = max(singles, key=lambda b: (b["selection"]["metric"], -b["selection"]["loss"]))
            named["last_candidate"] = baselines.get(candidate_arm(self.pool.k - 1), singles[-1])
        named.update({label: b for label, b in baselines.items() if not label.startswith(SINGLE_PREFIX)})
        for label, b in named.items():
            scored[label] = {
                "trial": b["trial"], "arm": b["label"], "method": b["method"],
                "selection": b["selection"], "report": b["report"],
            }
        ev = self.config.task.eval
        report = {
            "pick_rule": self.config.search.pick,
            "pick_loss_bound": self.config.search.pick_loss_bound,
            "selection": {"split": ev.split, "part": "selection",
                          "fraction": ev.selection_fraction,
                          "rows": len(self.bench.selection_rows)},
            "trials": len(records),
            "metric": self.task.metric,
            "selection_rows": len(self.bench.selection_rows),
            "report_rows": len(self.bench.report_rows),
            "pick_coefficients": chosen.coefficients,
            "scores": scored,
        }
        self.store.write_result(report)
        return StudyOutcome(records, chosen, report, True, baseline_records(self.store))


def study_objectives(config: StudyConfig) -> tuple[Objective, ...]:
    """(name, maximise) of the study's objectives: loss and metric, or with
    ``search.objectives: per_task`` every sub-task's metric."""
    if config.search.objectives == "per_task":
        return tuple((name, True) for name in get_task(config.task.name).extra_metrics)
    return LOSS_METRIC


def choose(records: list[TrialRecord], config: StudyConfig) -> TrialRecord:
    """The study's pick: its rule applied to the Pareto set of its objectives."""
    return pick(records, config.search.pick, config.search.pick_loss_bound,
                study_objectives(config))


def pick_rule_text(config: StudyConfig) -> str:
    rule = config.search.pick
    return f"{rule} (loss ≤ {config.search.pick_loss_bound})" if rule == "loss_bound" else rule


def stored_client(name: str, url: str, seed: int) -> Any:
    """The Ax client of experiment ``name`` in the database, or None if it is not there."""
    from ax.api.client import Client
    from ax.api.configs import StorageConfig
    from ax.exceptions.core import ObjectNotFoundError

    try:
        client = Client.load_from_database(name, storage_config=StorageConfig(url=url))
    except ObjectNotFoundError:
        return None
    client._random_seed = seed  # Ax does not store the client's seed; the study does.
    return client


class ConsecutiveFailures:
    """Stops a study whose trials keep failing: after ``limit`` failed trials in a row, a
    BomergeError names the last reason (completed trials stay saved)."""

    def __init__(self, limit: int, study: str) -> None:
        self.limit, self.study, self.count = limit, study, 0

    def add(self, index: int, reason: str | None) -> None:
        if reason is None:
            self.count = 0
            return
        self.count += 1
        if self.count >= self.limit:
            raise BomergeError(
                f"study '{self.study}' stopped: {self.count} trials in a row failed (last: "
                f"trial {index}, {reason}); completed trials are saved, reasons are in "
                f"trials.jsonl (search.max_consecutive_failures: {self.limit})"
            )


def load_records(store: StudyStore) -> list[TrialRecord]:
    """The trials of a stored study, without loading its candidates (for ``pareto``)."""
    config, meta = store.read_config(), store.read_meta()
    client = stored_client(config.name, store.connect(), config.seed)
    if client is None:
        return []
    method = build_method(config.merge.method, config.merge.options)
    space = SearchSpace(method.variables(len(meta.candidates)), config.merge.encoding)
    return [trial_record(client, space, i, method.name) for i in sorted(client._experiment.trials)]


def baseline_records(store: StudyStore) -> list[TrialRecord]:
    """Recorded baselines that are not arms of the study's Ax experiment (other methods),
    as records without a trial index."""
    return [
        TrialRecord(
            index=None, arm=label, node="baseline", status="COMPLETED",
            coefficients=b["coefficients"], loss=b["selection"]["loss"],
            metric=b["selection"]["metric"],
            extra={k: v for k, v in b["selection"].items() if k not in ("loss", "metric")},
            method=b["method"], note=b.get("note", ""),
        )
        for label, b in store.read_baselines().items()
        if b["trial"] is None
    ]


def trial_record(client: Any, space: SearchSpace, index: int, method: str = "") -> TrialRecord:
    """A trial of the Ax experiment as a ``TrialRecord`` (objectives from Ax's data)."""
    trial = client._experiment.trials[index]
    node = trial.generator_runs[0]._generation_node_name if trial.generator_runs else None
    params = dict(trial.arm.parameters)
    coefficients = {
        k: (v.round(6).tolist() if isinstance(v, np.ndarray) else round(float(v), 6))
        for k, v in space.decode(params).items()
    }
    data = client._experiment.lookup_data(trial_indices=[index]).df
    values = {row.metric_name: float(row["mean"]) for _, row in data.iterrows()}
    return TrialRecord(
        index=index,
        arm=trial.arm.name,
        node=node or "baseline",
        status=trial.status.name,
        coefficients=coefficients,
        loss=values.pop("loss", None),
        metric=values.pop("metric", None),
        extra=values,
        method=method,
    )


def _log_entry(record: TrialRecord) -> dict[str, Any]:
    return {
        "trial": record.index, "arm": record.arm, "node": record.node, "status": record.status,
        "coefficients": record.coefficients, "loss": record.loss, "metric": record.metric,
        **record.extra,
    }


def _format_coefficients(coefficients: dict[str, list[float] | float]) -> str:
    parts = []
    for name, value in coefficients.items():
        if isinstance(value, list):
            parts.append(f"{name}=[" + " ".join(f"{v:.2f}" for v in value) + "]")
        else:
            parts.append(f"{name}={value:.3g}")
    return " ".join(parts)
