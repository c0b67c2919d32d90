"""Bilevel-BO-SWA: fine-tuning hyperparameters as an outer Bayesian-optimisation loop.

Jang et al. (2024), "Bilevel optimisation of SWA checkpoint weights": the inner level is a
whole MOBO-SWA study (qLogNEHVI on the selection rows' loss and metric over the weights of
the last k snapshots of one fine-tuning run); the outer level is an Ax study over the
hyperparameters of that run (learning rate, batch size, weight decay, epochs, warm-up,
dropout, seed), single-objective on the inner pick's selection metric by default (qLogNEI),
or on its (loss, metric) pair (qLogNEHVI).

Layout: the outer study is a study folder like any other (``config.yaml`` with its
``outer:`` section, ``study.json``, ``ax.sqlite``); ``outer.jsonl`` holds one line per
finished outer trial, and ``inner/`` is a studies folder holding one complete inner study
per outer trial (``NAME.o000``, ``NAME.o001``, ...), each with its own trained candidates,
``training.jsonl``, trial log and result. Every Ax experiment, outer and inner, lives in the
outer study's one database (Ax keeps one global connection per process).

Resume works at the level where a run stopped: a finished outer trial is never redone; the
outer trial in flight continues its inner study, whose training is reused once it finished
(``train.json``) and whose trials continue their numbering.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from bomerge.config import OUTER_PARAMETERS, OuterConfig, StudyConfig, TrainConfig
from bomerge.errors import BomergeError
from bomerge.fileio import append_jsonl, read_jsonl
from bomerge.search.pareto import TrialRecord, pick_on_front
from bomerge.search.study.completion import complete_trial
from bomerge.search.study.database import sqlite_file
from bomerge.search.study.store import StudyStore
from bomerge.search.torch_threads import generation_threads


def inner_study_name(outer_name: str, index: int) -> str:
    return f"{outer_name}.o{index:03d}"


def outer_parameters(outer: OuterConfig) -> list[Any]:
    """Ax parameter configs of the searched hyperparameters."""
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    params: list[Any] = []
    for name, spec in outer.space.items():
        kind = OUTER_PARAMETERS[name]
        if spec.choices is not None:
            values = ([int(v) for v in spec.choices] if kind == "int"
                      else [float(v) for v in spec.choices])
            if len(values) == 1:
                raise BomergeError(f"outer.space.{name}: one choice is not a search; "
                                   f"set train.{name}")
            params.append(ChoiceParameterConfig(name=name, values=values, parameter_type=kind,
                                                is_ordered=True))
            continue
        log = spec.log if spec.log is not None else name == "learning_rate"
        low, high = (int(spec.low), int(spec.high)) if kind == "int" else (spec.low, spec.high)  # type: ignore[arg-type]
        params.append(RangeParameterConfig(name=name, parameter_type=kind, bounds=(low, high),
                                           scaling="log" if log else "linear"))
    return params


def train_settings(train: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """``train:`` with an outer trial's hyperparameters in place of the configured values."""
    update = {name: int(value) if OUTER_PARAMETERS[name] == "int" else float(value)
              for name, value in params.items()}
    return train.model_copy(update=update)


@dataclass
class OuterOutcome:
    """The outer trials as records (coefficients = hyperparameters) and the chosen one."""

    records: list[TrialRecord]
    pick: TrialRecord
    result: dict[str, Any]


class BilevelRunner:
    """Runs (or continues) the outer study of a config with an ``outer:`` section."""

    def __init__(self, store: StudyStore, config: StudyConfig, show_progress: bool = True) -> None:
        if config.outer is None or config.train is None:
            raise BomergeError(f"study '{store.name}' has no outer: section")
        self.store = store
        self.config = config
        self.outer: OuterConfig = config.outer
        self.show_progress = show_progress
        self.console = Console(stderr=True, quiet=not show_progress)

    def _client(self, url: str) -> Any:
        from bomerge.search.client import ExperimentDesign, open_client
        from bomerge.search.strategies import StrategySettings

        multi = self.outer.objective == "loss_metric"
        design = ExperimentDesign(
            parameters=outer_parameters(self.outer),
            objective="-loss, metric" if multi else "metric",
            strategy=self.outer.strategy,
            settings=StrategySettings(self.outer.initial_trials, self.config.seed,
                                      self.outer.num_restarts, self.outer.raw_samples,
                                      multi_objective=multi),
        )
        return open_client(self.config.name, url, self.config.seed, design)

    def inner_config(self, index: int, params: dict[str, Any]) -> StudyConfig:
        """The inner study of outer trial ``index``: the config's task, merge and search,
        fine-tuned with the trial's hyperparameters (its store is created in the outer
        study's database)."""
        assert self.config.train is not None
        return self.config.model_copy(update={
            "name": inner_study_name(self.config.name, index),
            "studies_dir": self.store.inner_studies_dir,
            "outer": None,
            "train": train_settings(self.config.train, params),
        })

    def run(self, extra_trials: int | None = None) -> OuterOutcome:
        url = self.store.connect()
        client = self._client(url)
        from bomerge.search.strategies import get_strategy

        strategy = get_strategy(self.outer.strategy)
        strategy.prepare()
        logged = self.logged()
        for index, trial in sorted(client._experiment.trials.items()):
            # An outer trial in flight at a crash (or completed in Ax but not yet logged)
            # continues: its inner study resumes, its training is reused once finished.
            if not trial.status.is_terminal or (trial.status.is_completed and index not in logged):
                self._run_outer(client, url, index, dict(trial.arm.parameters))
        done = len(client._experiment.trials)
        target = self.outer.trials if extra_trials is None else done + extra_trials
        while done < target:
            client._random_seed = strategy.seed_for_call(self.config.seed, done)
            with generation_threads(self.config.search.generation_threads):
                ((index, params),) = client.get_next_trials(max_trials=1).items()
            self._run_outer(client, url, index, dict(params))
            done += 1
        return self.finish(client)

    def _run_outer(self, client: Any, url: str, index: int, params: dict[str, Any]) -> None:
        from bomerge.search.runner import StudyRunner

        shown = "  ".join(f"{k}={short_value(v)}" for k, v in params.items())
        self.console.rule(f"outer trial {index}: {shown}")
        config = self.inner_config(index, params)
        inner = StudyStore(config.study_dir)
        if not inner.exists():
            # the outer study's own SQLite file, recorded relative to the inner study
            shared = sqlite_file(url) if self.config.storage.url is None else None
            inner.create(config, shared_database=shared)
        started = time.perf_counter()
        runner = StudyRunner(inner, inner.read_config(), self.show_progress)
        outcome = runner.run()
        # StudyRunner re-pointed Ax's global connection at the same database; the outer
        # client writes through it.
        chosen = outcome.report["scores"]["pick"]
        selection = chosen["selection"]
        trial = client._experiment.trials[index]
        if not trial.status.is_completed:
            if not trial.status.is_running:
                trial.mark_running(no_runner_required=True)
            complete_trial(client, index,
                           {"loss": selection["loss"], "metric": selection["metric"]})
        trained = read_jsonl(inner.training_log_path)
        entry = {
            "trial": index, "params": params, "inner_study": inner.name,
            "pick_trial": chosen["trial"], "pick_rule": outcome.report["pick_rule"],
            "coefficients": outcome.report["pick_coefficients"],
            "selection": selection, "report": chosen["report"],
            "train_seconds": sum(t["seconds"] for t in trained),
            "seconds": round(time.perf_counter() - started, 2),
        }
        append_jsonl(self.store.outer_log_path, entry)
        self.console.print(f"outer trial {index}: inner pick trial {chosen['trial']}  "
                           f"selection metric {selection['metric']:.4f}  "
                           f"loss {selection['loss']:.4f}")

    def logged(self) -> dict[int, dict[str, Any]]:
        """The finished outer trials' log entries, by trial."""
        return {e["trial"]: e for e in read_jsonl(self.store.outer_log_path)}

    def records(self, client: Any, entries: dict[int, dict[str, Any]]) -> list[TrialRecord]:
        records = []
        for index, trial in sorted(client._experiment.trials.items()):
            entry = entries.get(index)
            records.append(TrialRecord(
                index=index, arm=inner_study_name(self.config.name, index),
                node=_node(trial), status=trial.status.name,
                coefficients={k: v for k, v in trial.arm.parameters.items()},
                loss=entry["selection"]["loss"] if entry else None,
                metric=entry["selection"]["metric"] if entry else None,
                method="bilevel",
            ))
        return records

    def finish(self, client: Any) -> OuterOutcome:
        """The best outer trial: the highest inner-pick selection metric (ties → lower
        loss), or the study's pick rule on the outer (loss, metric) front; its inner pick's
        report-row scores are the bilevel result."""
        entries = self.logged()
        records = self.records(client, entries)
        search = self.config.search
        if self.outer.objective == "loss_metric":
            chosen = pick_on_front(records, search.pick, search.pick_loss_bound)
        else:
            chosen = pick_on_front(records, "best_metric")
        best = entries[chosen.index]
        result = {
            "bilevel": True,
            "outer_objective": self.outer.objective,
            "outer_trials": len(records),
            "pick": {"outer_trial": chosen.index, "params": best["params"],
                     "inner_study": best["inner_study"], "inner_trial": best["pick_trial"],
                     "inner_pick_rule": best["pick_rule"], "coefficients": best["coefficients"],
                     "selection": best["selection"], "report": best["report"]},
            "inner_folder": self.store.inner_studies_dir.name,  # relative: the study may move
        }
        self.store.write_result(result)
        return OuterOutcome(records, chosen, result)


def _node(trial: Any) -> str:
    node = trial.generator_runs[0]._generation_node_name if trial.generator_runs else None
    return node or "manual"


def short_value(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
