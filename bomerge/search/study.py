"""Running a study: candidates → merge method → Ax (qLogNEHVI) ↔ evaluator → pick → report.

Data goes one way. The search scores trials only on the *selection* rows; the picked merge
and the baselines are scored once more at the end on the *report* rows, which nothing in the
search or the pick ever saw.
"""

from __future__ import annotations

import glob
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.evaluate import EvalResult, Evaluator, tokenize_batches
from bomerge.merge import get_method
from bomerge.merge.base import MergeMethod, Simplex
from bomerge.models import classifier_skeleton, load_tokenizer
from bomerge.pool import CandidatePool
from bomerge.search.pareto import TrialRecord, pareto_set, pick
from bomerge.search.space import SearchSpace
from bomerge.search.store import StudyStore
from bomerge.search.strategy import pinned_strategy
from bomerge.tasks.data import load_split, split_selection_report
from bomerge.tasks.glue import TaskSpec, get_task
from bomerge.train.finetune import finetune

UNIFORM_ARM = "uniform"
OBJECTIVE = "-loss, metric"


def candidate_arm(i: int) -> str:
    return f"candidate_{i}"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BomergeError(f"device '{name}' requested but CUDA is not available")
    return device


def candidate_paths(config: StudyConfig, store: StudyStore, show_progress: bool) -> list[Path]:
    """The K candidate folders: those trained for the study, then listed paths and globs."""
    paths: list[Path] = []
    if config.train is not None:
        paths += finetune(
            config.task, config.train, store.candidates_dir,
            resolve_device(config.device), show_progress,
        )
    paths += list(config.candidates.paths)
    for pattern in config.candidates.glob:
        matches = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_dir())
        if not matches:
            raise BomergeError(f"candidates.glob '{pattern}' matches no folder")
        paths += matches
    if not paths:
        raise BomergeError("the config names no candidates (candidates.paths/glob or train)")
    return paths


@dataclass
class StudyOutcome:
    records: list[TrialRecord]
    pick: TrialRecord
    report: dict[str, Any]
    complete: bool


class StudyRunner:
    """Everything a running study keeps resident: pool, method state, evaluators, Ax client."""

    def __init__(self, store: StudyStore, config: StudyConfig, show_progress: bool = True) -> None:
        self.store = store
        self.config = config
        self.show_progress = show_progress
        self.console = Console(stderr=True, quiet=not show_progress)
        self.task: TaskSpec = get_task(config.task.name)
        self.device = resolve_device(config.device)

    # ---- set-up ---------------------------------------------------------------------
    def _prepare(self) -> None:
        config, store = self.config, self.store
        url = store.connect()
        meta = store.read_meta()
        paths = candidate_paths(config, store, self.show_progress)
        names = [str(p.resolve()) for p in paths]
        if meta.candidates and meta.candidates != names:
            raise BomergeError(
                f"study '{store.name}' was run with other candidates than the config now gives "
                f"({len(meta.candidates)} recorded, {len(names)} now)"
            )
        if not meta.candidates:
            meta.candidates = names
            store.write_meta(meta)
        self.pool = CandidatePool.load(paths, self.device)
        self.method: MergeMethod = get_method(config.merge.method)
        self.state = self.method.prepare(self.pool)
        self.space = SearchSpace(self.method.variables(self.pool.k), config.merge.encoding)
        self.buffer = self.pool.empty_merge_buffer()

        dev = load_split(self.task, config.task.data, config.task.eval.split)
        selection, report = split_selection_report(
            dev, self.task, config.task.eval.selection_fraction
        )
        self.selection_rows = selection[: config.task.eval.max_selection_examples]
        self.report_rows = report[: config.task.eval.max_report_examples]
        self.tokenizer = load_tokenizer(paths[0])
        self.skeleton = classifier_skeleton(paths[0]).to(self.device)
        self.selection = self._evaluator(self.selection_rows)
        self.client = self._client(url)

    def _evaluator(self, rows: list) -> Evaluator:
        eval_cfg = self.config.task.eval
        batches = tokenize_batches(
            rows, self.tokenizer, self.task, self.config.task.max_length,
            eval_cfg.batch_size, self.device,
        )
        return Evaluator(self.skeleton, batches, self.task)

    def _client(self, url: str) -> Any:
        from ax.api.client import Client
        from ax.api.configs import StorageConfig
        from ax.exceptions.core import ObjectNotFoundError

        search = self.config.search
        storage = StorageConfig(url=url)
        try:
            client = Client.load_from_database(self.config.name, storage_config=storage)
            # Ax does not store the client's seed; the study does.
            client._random_seed = self.config.seed
            return client
        except ObjectNotFoundError:
            pass
        client = Client(storage_config=storage, random_seed=self.config.seed)
        client.configure_experiment(
            parameters=self.space.parameters(),
            parameter_constraints=self.space.constraints(),
            name=self.config.name,
        )
        thresholds = []
        if search.loss_threshold is not None:
            thresholds.append(f"loss <= {search.loss_threshold}")
        if search.metric_threshold is not None:
            thresholds.append(f"metric >= {search.metric_threshold}")
        client.configure_optimization(OBJECTIVE, outcome_constraints=thresholds or None)
        client.set_generation_strategy(
            pinned_strategy(search.initial_trials, self.config.seed, search.num_restarts,
                            search.raw_samples)
        )
        return client

    # ---- trials ---------------------------------------------------------------------
    def merged_parameters(self, params: dict[str, float]) -> dict[str, torch.Tensor]:
        values = self.space.decode(params)
        self.method.combine(self.state, values, self.buffer)
        return self.pool.unflatten(self.buffer)

    def _run_trial(self, index: int, params: dict[str, float], progress: Progress) -> None:
        started = time.perf_counter()
        merged = self.merged_parameters(params)
        merged_at = time.perf_counter()
        result = self.selection.evaluate(merged)
        evaluated_at = time.perf_counter()
        self.client.complete_trial(index, {"loss": result.loss, "metric": result.metric, **result.extra})
        record = self.record(index)
        self.store.append_log(
            _log_entry(record)
            | {"merge_s": round(merged_at - started, 4), "eval_s": round(evaluated_at - merged_at, 4)}
        )
        progress.console.print(
            f"trial {index:3d} [dim]{record.node:>9}[/] {record.arm:>12}  "
            f"loss {result.loss:.4f}  {self.task.metric} {result.metric:.4f}  "
            f"{_format_coefficients(record.coefficients)}"
        )

    def _baseline_points(self) -> dict[str, dict[str, float]]:
        """Every single candidate and the uniform average, when the method is a plain
        simplex over the candidates (uniform weights = uniform soup = plain SWA)."""
        variables = self.method.variables(self.pool.k)
        if len(variables) != 1 or not isinstance(variables[0], Simplex):
            return {}
        k, name = self.pool.k, variables[0].name
        points = {candidate_arm(i): self.space.encode({name: np.eye(k)[i]}) for i in range(k)}
        points[UNIFORM_ARM] = self.space.encode({name: np.full(k, 1.0 / k)})
        return points

    def run(self, extra_trials: int | None = None) -> StudyOutcome:
        """Run (or continue) the study; ``extra_trials`` asks for that many search trials
        beyond those done, otherwise the configured budget is completed.

        KeyboardInterrupt propagates; the trial in flight stays RUNNING in the store and is
        re-run by the next ``run``.
        """
        self._prepare()
        experiment = self.client._experiment
        progress = Progress(
            TextColumn("[bold]study[/] {task.description}"), BarColumn(),
            TextColumn("{task.completed}/{task.total} trials"), TimeElapsedColumn(),
            console=self.console, disable=not self.show_progress,
        )
        with progress:
            self._complete_log()
            for trial in list(experiment.trials.values()):
                if trial.status.is_running:
                    # Interrupted in flight: evaluation is deterministic, so re-running it
                    # gives the result it would have had; it is counted once.
                    self._run_trial(trial.index, dict(trial.arm.parameters), progress)
            baselines = self._baseline_points() if self.config.search.baselines else {}
            present = {t.arm.name for t in experiment.trials.values() if t.arm is not None}
            for arm, params in baselines.items():
                if arm not in present:
                    index = self.client.attach_trial(params, arm_name=arm)
                    self._run_trial(index, params, progress)
            done = self._search_trials_started()
            target = self.config.search.trials if extra_trials is None else done + extra_trials
            bar = progress.add_task(self.store.name, total=max(target, done), completed=done)
            while done < target:
                q = min(self.config.search.batch_size, target - done)
                progress.update(bar, description=f"{self.store.name}: generating")
                for index, params in self.client.get_next_trials(max_trials=q).items():
                    progress.update(bar, description=f"{self.store.name}: trial {index}")
                    self._run_trial(index, dict(params), progress)
                    done += 1
                    progress.update(bar, completed=done)
        return self.finish()

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
        return trial_record(self.client, self.space, index)

    def finish(self) -> StudyOutcome:
        """Pick on the selection rows, then score the pick and the baselines on the report
        rows, and store the result."""
        records = [self.record(i) for i in sorted(self.client._experiment.trials)]
        chosen = pick(records, self.config.search.pick)
        report_evaluator = self._evaluator(self.report_rows)
        scored: dict[str, dict[str, Any]] = {}
        by_arm = {r.arm: r for r in records}
        singles = [by_arm[a] for a in by_arm if a.startswith("candidate_") and by_arm[a].completed]
        entries = {"pick": chosen}
        if UNIFORM_ARM in by_arm:
            entries["uniform"] = by_arm[UNIFORM_ARM]
        if singles:
            entries["best_single"] = max(singles, key=lambda r: (r.metric, -r.loss))
            entries["last_candidate"] = by_arm.get(candidate_arm(self.pool.k - 1), singles[-1])
        for label, rec in entries.items():
            params = dict(self.client._experiment.trials[rec.index].arm.parameters)
            result: EvalResult = report_evaluator.evaluate(self.merged_parameters(params))
            scored[label] = {
                "trial": rec.index, "arm": rec.arm,
                "selection": {"loss": rec.loss, "metric": rec.metric},
                "report": {"loss": result.loss, "metric": result.metric, **result.extra},
            }
        report = {
            "pick_rule": self.config.search.pick,
            "metric": self.task.metric,
            "selection_rows": len(self.selection_rows),
            "report_rows": len(self.report_rows),
            "pick_coefficients": chosen.coefficients,
            "scores": scored,
        }
        self.store.write_result(report)
        return StudyOutcome(records, chosen, report, complete=True)


def load_records(store: StudyStore) -> list[TrialRecord]:
    """The trials of a stored study, without loading its candidates (for ``pareto``)."""
    from ax.api.client import Client
    from ax.api.configs import StorageConfig
    from ax.exceptions.core import ObjectNotFoundError

    config, meta = store.read_config(), store.read_meta()
    url = store.connect()
    try:
        client = Client.load_from_database(config.name, storage_config=StorageConfig(url=url))
    except ObjectNotFoundError:
        return []
    method = get_method(config.merge.method)
    space = SearchSpace(method.variables(len(meta.candidates)), config.merge.encoding)
    return [trial_record(client, space, i) for i in sorted(client._experiment.trials)]


def trial_record(client: Any, space: SearchSpace, index: int) -> TrialRecord:
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
    )


def _log_entry(record: TrialRecord) -> dict[str, Any]:
    return {
        "trial": record.index, "arm": record.arm, "node": record.node,
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
