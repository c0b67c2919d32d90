"""``bench_trial.py --fast-eval R``: is the evaluator kept busy when it is R times faster
than one generation call?

The real study loop (a bomerge study of the quickstart config over the quickstart's own
candidates: its search space, Ax client, generation strategy, executor, storage and log)
with the evaluation replaced by a fixed objective of the merge weights w computed from the
real candidates' scores, so the search problem is real and its cost is known:

    metric(w) = Σ w_i m_i + β (1 − Σ w_i²)      loss(w) = Σ w_i l_i − γ (1 − Σ w_i²)

with (l_i, m_i) each candidate's selection loss and metric, and β, γ set so that the
uniform soup scores what the study measured for it (the quadratic term is the soup's gain,
largest at the centre of the simplex). Each evaluation sleeps E = G / R seconds, G being the
median seconds of one BO generation call at q = 1 (measured first, ``--generation-seconds``
to give it), so the evaluator is R times faster than a generation.

For each R and each mode — q = 1 in turn (``search.overlap`` off, the default), q = 4, 8
and 16 pipelined (``overlap`` on: the next batch is generated while the current one is
evaluated) — and each seed, it runs ``--trials`` search trials and prints the evaluator's
busy share (Σ evaluation seconds / the search's wall span), trials per minute, the
seconds of a generation call, the recording seconds per trial (Ax storage and the log),
the quasi-random trials among them (Ax keeps drawing Sobol points while the GP has no
data, so a first batch of q > ``initial_trials`` is all Sobol) and the hypervolume of the
(−loss, metric) points after the last trial (reference point: the worst candidate's loss
and metric), as mean ± std over seeds. ``--budget auto`` runs the modes with
``num_restarts``/``raw_samples: auto`` (R stays relative to the default budget's
generation); ``--generation-threads N`` sets ``search.generation_threads`` (the GP's torch
threads; default the config's, 1).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from bench_search import hypervolume  # one definition for every benchmark
from rich.console import Console
from rich.progress import Progress

from bomerge.config import parse_config
from bomerge.search.config_names import check_names
from bomerge.search.consecutive_failures import ConsecutiveFailures
from bomerge.search.runner import StudyRunner
from bomerge.search.study.store import StudyStore
from bomerge.search.trial import TrialOutcome
from bomerge.tasks.base import EvalResult

MODES = {"q1-in-turn": (1, False), "q4-pipelined": (4, True), "q8-pipelined": (8, True),
         "q16-pipelined": (16, True)}


@dataclass(frozen=True)
class SoupObjective:
    """The fixed objective: each candidate's selection scores and the soup terms."""

    losses: np.ndarray  # (K,)
    metrics: np.ndarray  # (K,)
    beta: float
    gamma: float

    @classmethod
    def from_study(cls, folder: Path) -> SoupObjective:
        """From a finished study's recorded baselines: ``candidate_i`` and ``uniform``."""
        recorded = StudyStore(folder).read_baselines()
        k = sum(1 for label in recorded if label.startswith("candidate_"))
        scores = [recorded[f"candidate_{i}"]["selection"] for i in range(k)]
        losses = np.array([s["loss"] for s in scores])
        metrics = np.array([s["metric"] for s in scores])
        uniform = recorded["uniform"]["selection"]
        spread = 1 - 1 / k  # 1 − Σ w² at the uniform soup
        return cls(losses, metrics, (uniform["metric"] - metrics.mean()) / spread,
                   (losses.mean() - uniform["loss"]) / spread)

    def __call__(self, w: np.ndarray) -> tuple[float, float]:
        spread = 1 - float(np.sum(w * w))
        return (float(w @ self.losses - self.gamma * spread),
                float(w @ self.metrics + self.beta * spread))

    def reference(self) -> tuple[float, float]:
        """(−loss, metric) of the worst candidate on each objective."""
        return (-float(self.losses.max()), float(self.metrics.min()))


def study_runner(raw: dict, config_path: Path, studies: Path, name: str, seed: int,
                 trials: int, initial: int, q: int, overlap: bool,
                 budget: str | None = None, merge: dict | None = None,
                 generation_threads: int | None = None) -> StudyRunner:
    data = dict(raw) | {"name": name, "studies_dir": str(studies), "seed": seed}
    data["merge"] = dict(data.get("merge") or {}) | (merge or {})
    data["search"] = dict(data.get("search") or {}) | {
        "trials": trials, "initial_trials": initial, "baselines": False, "overlap": overlap,
        "batch_size": q}
    if budget == "auto":  # the optimiser budget scaled with the dimensions
        data["search"] |= {"num_restarts": "auto", "raw_samples": "auto"}
    if generation_threads is not None:
        data["search"]["generation_threads"] = generation_threads
    config = check_names(parse_config(data, str(config_path), config_path.resolve().parent),
                         str(config_path))
    store = StudyStore(config.study_dir)
    store.create(config)
    return StudyRunner(store, config, show_progress=False)


def mean_weights(values: dict[str, Any]) -> np.ndarray:
    """The merge weights of a point: ``w``, or block-wise the mean of every group's ``w``."""
    return np.mean([np.asarray(v) for v in values.values() if isinstance(v, np.ndarray)],
                   axis=0)


def run_search(runner: StudyRunner, objective: SoupObjective, seconds: float) -> list[dict]:
    """The runner's search loop with the fixed objective sleeping ``seconds`` per trial;
    the search trials' log lines."""
    runner.open()

    def evaluate(params: dict[str, Any], on_chunk: Any = None) -> TrialOutcome:
        started = time.time()
        loss, metric = objective(mean_weights(runner.space.decode(params)))
        time.sleep(seconds)
        finished = time.time()
        return TrialOutcome(EvalResult(loss, metric, {}, 1), None, 0.0, finished - started,
                            started, finished)

    runner._evaluate = evaluate  # type: ignore[method-assign]
    with Progress(disable=True, console=Console(quiet=True)) as progress:
        bar = progress.add_task("s", total=runner.config.search.trials)
        runner._search(0, runner.config.search.trials, progress, bar,
                       ConsecutiveFailures(3, runner.store.name))
    return [x for x in runner.store.read_log() if x["node"] != "baseline"]


def summary(lines: list[dict], reference: tuple[float, float]) -> dict[str, float]:
    span = max(x["t_end"] for x in lines) - min(x["t_start"] for x in lines)
    busy = sum(x["eval_s"] for x in lines)
    return {"busy": busy / span, "per_minute": 60 * len(lines) / span,
            "hv": hypervolume([(x["loss"], x["metric"]) for x in lines], reference),
            "gen_s": statistics.mean(x["gen_s"] for x in lines if x["node"] != "Sobol"),
            "book_s": statistics.mean(x.get("book_s", 0.0) for x in lines),
            "sobol": sum(x["node"] == "Sobol" for x in lines)}


def fast_eval(args: Any) -> None:
    raw = yaml.safe_load(args.config.read_text())
    raw.pop("train", None)
    folder = args.study
    raw["candidates"] = {"glob": [str(folder / "candidates" / "step-*")],
                         "base": str(folder / "candidates" / "base")}
    objective = SoupObjective.from_study(folder)
    reference = objective.reference()
    with tempfile.TemporaryDirectory() as work:
        studies = Path(work)
        generation = args.generation_seconds
        if generation is None:
            calibration = study_runner(raw, args.config, studies, "calibrate", 99, 12,
                                       args.initial_trials, 1, False)
            lines = run_search(calibration, objective, 0.0)
            generation = statistics.median(x["gen_s"] for x in lines if x["node"] != "Sobol")
        print(f"one BO generation at q = 1: {generation:.2f} s (median); "
              f"K = {len(objective.losses)}, β = {objective.beta:.4f}, γ = {objective.gamma:.4f}")
        print(f"\n{'R':>3} {'mode':>13} {'eval s':>7} {'busy %':>13} {'trials/min':>14} "
              f"{'gen s/call':>10} {'record s':>8} {'Sobol':>5} {'hypervolume':>17}")
        for ratio in args.fast_eval:
            for mode in args.modes:
                q, overlap = MODES[mode]
                runs = []
                for seed in range(args.seeds):
                    runner = study_runner(raw, args.config, studies, f"r{ratio}-{mode}-{seed}",
                                          seed, args.trials, args.initial_trials, q, overlap,
                                          args.budget, None, args.generation_threads)
                    runs.append(summary(run_search(runner, objective, generation / ratio),
                                        reference))
                print(f"{ratio:>3} {mode:>13} {generation / ratio:7.3f} "
                      f"{_cell(runs, 'busy', 100, 1):>13} {_cell(runs, 'per_minute', 1, 1):>14} "
                      f"{statistics.mean(r['gen_s'] * q for r in runs):10.2f} "
                      f"{statistics.mean(r['book_s'] for r in runs):8.3f} "
                      f"{statistics.mean(r['sobol'] for r in runs):5.1f} "
                      f"{_cell(runs, 'hv', 1, 5):>17}", flush=True)


def _cell(runs: list[dict], key: str, scale: float, digits: int) -> str:
    values = [r[key] * scale for r in runs]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"
