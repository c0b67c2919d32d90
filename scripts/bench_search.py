"""Sample efficiency at equal budget: bomerge's studies against quasi-random (Sobol) search
and CMA-ES, at model and block granularity, on the same real candidates and evaluator.

Every arm searches the study's merge weights in their stick-breaking box encoding, one
simplex for the model (``model-*``) or one per group (``block-*``: the embeddings,
``--blocks`` contiguous blocks of encoder layers, the head), and every trial is scored on the
same selection rows. For each seed:

* **model-gp / block-gp** — a bomerge study (``search.initial_trials`` Sobol points, then
  qLogNEHVI on (dev loss, dev metric), ``search.overlap`` on, no baseline arms);
* **block-saas** — the same with the SAAS-prior GP (``search.strategy: saas``);
* **model-sobol / block-sobol** — every trial quasi-random (``initial_trials`` = budget);
* **model-cmaes / block-cmaes** — the ``cma`` package (what mergekit-evolve uses) on the
  box parameters, minimising −metric + 0.01·loss (the loss only breaks ties).

It prints, after 10, 20 and 40 trials, each run's best dev metric and the hypervolume its
(−loss, metric) points dominate (reference point: the worst loss and the worst metric any
run saw), the medians over seeds, and whether the study's median at 20 trials reaches the
Sobol and CMA-ES medians at 40.

    python scripts/bench_search.py --candidates 'studies/quickstart/candidates/step-*' \\
        [--config configs/quickstart.yaml] [--seeds 3] [--trials 40] [--blocks 3] \\
        [--arms model-gp block-gp block-saas block-sobol block-cmaes] [--out search.json]
    python scripts/bench_search.py --listing ~/.cache/bomerge/glue-candidates/mrpc/candidates.json \\
        --setting swa        # scripts/make_candidates.py's candidates of one task (swa | soup)

It also prints each arm's mean generation seconds per trial (``gen_s`` of trials.jsonl).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml

from bomerge.config import parse_config
from bomerge.search.names import check_names
from bomerge.search.runner import StudyRunner
from bomerge.search.store import StudyStore

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "glue"
BUDGETS = (10, 20, 40)
Trace = list[tuple[float, float]]  # (loss, metric) of each trial, in trial order


ARMS = ("model-gp", "model-sobol", "model-cmaes", "block-gp", "block-saas", "block-sobol",
        "block-cmaes")


def listing_config(listing_path: Path, setting: str, selection_rows: int) -> dict:
    """A study config for the candidates ``scripts/make_candidates.py`` listed for one task:
    its task, max length and ``setting``'s candidates, scored on (at most ``selection_rows``
    of) the selection half of dev, as ``scripts/results.py`` scores them."""
    listing = json.loads(listing_path.read_text())
    return {
        "device": "auto",
        "task": {"name": listing["task"], "max_length": listing["max_length"],
                 "data": {"root": str(DEFAULT_DATA), "hub": False},
                 "eval": {"split": "dev", "selection_fraction": 0.5,
                          "max_selection_examples": selection_rows}},
        "candidates": {"paths": listing[setting], "base": listing["base"]},
        "merge": {"method": "weights"},
    }


def make_runner(raw: dict, config_path: Path, studies: Path, name: str, seed: int,
                trials: int, initial: int, strategy: str = "gp",
                blocks: int | None = None) -> StudyRunner:
    data = dict(raw) | {"name": name, "studies_dir": str(studies), "seed": seed}
    data["search"] = dict(data.get("search") or {}) | {
        "trials": trials, "initial_trials": initial, "baselines": False, "overlap": True,
        "strategy": strategy,
    }
    if blocks is not None:
        data["merge"] = dict(data.get("merge") or {}) | {"granularity": "block",
                                                         "blocks": blocks}
    config = check_names(parse_config(data, str(config_path), config_path.resolve().parent),
                         str(config_path))
    store = StudyStore(config.study_dir)
    store.create(config)
    return StudyRunner(store, config, show_progress=False)


def study_trace(runner: StudyRunner) -> tuple[Trace, list[float]]:
    """The (loss, metric) of each completed trial and each trial's generation seconds."""
    runner.run()
    lines = sorted(runner.store.read_log(), key=lambda x: x["trial"])
    done = [x for x in lines if x["status"] == "COMPLETED"]
    return [(x["loss"], x["metric"]) for x in done], [x.get("gen_s", 0.0) for x in done]


def cma_trace(runner: StudyRunner, seed: int, trials: int) -> Trace:
    """CMA-ES over the study's box parameters (bounds [0, 1]), asked and told until the
    budget of evaluations is spent."""
    import cma

    names = [p.name for p in runner.space.parameters()]
    strategy = cma.CMAEvolutionStrategy(
        [0.5] * len(names), 0.3,
        {"bounds": [0.0, 1.0], "seed": seed + 1, "verbose": -9},  # cma: seed 0 = from time
    )
    trace: Trace = []
    while len(trace) < trials:
        xs = strategy.ask()[: trials - len(trace)]
        scores = []
        for x in xs:
            outcome = runner._evaluate(dict(zip(names, map(float, x), strict=True)))
            assert outcome.result is not None, outcome.reason
            trace.append((outcome.result.loss, outcome.result.metric))
            scores.append(-outcome.result.metric + 0.01 * outcome.result.loss)
        if len(xs) == strategy.popsize:  # the last, cut population is scored, not told
            strategy.tell(xs, scores)
    return trace


def hypervolume(trace: Trace, reference: tuple[float, float]) -> float:
    """Area dominated by the (−loss, metric) points above the reference point."""
    from botorch.utils.multi_objective.hypervolume import Hypervolume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    y = torch.tensor([(-loss, metric) for loss, metric in trace], dtype=torch.float64)
    front = y[is_non_dominated(y)]
    return float(Hypervolume(torch.tensor(reference, dtype=torch.float64)).compute(front))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "quickstart.yaml")
    parser.add_argument("--candidates", help="glob of candidate folders (with --config)")
    parser.add_argument("--listing", type=Path,
                        help="instead: a task's candidates.json from scripts/make_candidates.py")
    parser.add_argument("--setting", choices=("swa", "soup"), default="swa",
                        help="with --listing: the SWA snapshots or the soup fine-tunes")
    parser.add_argument("--selection-rows", type=int, default=200,
                        help="with --listing: selection rows each trial is scored on")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--initial-trials", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=3, help="blocks of block-* arms")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--out", type=Path, help="also write every trace as JSON here")
    parser.add_argument("--runs", type=Path,
                        help="keep each finished run here and skip those already in it (resume)")
    args = parser.parse_args()
    if args.listing is not None:
        raw = listing_config(args.listing.expanduser().resolve(), args.setting, args.selection_rows)
        args.config = args.listing.expanduser().resolve()
    elif args.candidates:
        raw = yaml.safe_load(args.config.read_text())
        raw.pop("train", None)
        raw["candidates"] = {"glob": [args.candidates]}
    else:
        parser.error("give --candidates (with --config) or --listing")

    traces: dict[str, list[Trace]] = {arm: [] for arm in args.arms}
    seconds: dict[str, float] = dict.fromkeys(traces, 0.0)
    generation: dict[str, list[float]] = {arm: [] for arm in args.arms}
    # Finished runs are kept in --runs as they finish, so an interrupted benchmark resumes.
    done: dict[str, dict] = json.loads(args.runs.read_text()) if args.runs and args.runs.is_file() else {}
    with tempfile.TemporaryDirectory() as folder:
        studies = Path(folder)
        scorers: dict[str, StudyRunner] = {}
        for seed in range(args.seeds):
            for arm in args.arms:
                level, optimiser = arm.split("-")
                blocks = args.blocks if level == "block" else None
                if (key := f"{arm}/{seed}") in done:
                    traces[arm].append([tuple(x) for x in done[key]["trace"]])
                    generation[arm] += done[key]["gen"]
                    seconds[arm] += done[key]["seconds"]
                    continue
                started = time.perf_counter()
                gen = []
                if optimiser == "cmaes":
                    if level not in scorers:
                        scorers[level] = make_runner(raw, args.config, studies, f"cma-{level}",
                                                     0, 0, 1, blocks=blocks)
                        scorers[level].open()
                    traces[arm].append(cma_trace(scorers[level], seed, args.trials))
                else:
                    initial = args.trials if optimiser == "sobol" else args.initial_trials
                    strategy = "saas" if optimiser == "saas" else "gp"
                    runner = make_runner(raw, args.config, studies, f"{arm}-{seed}", seed,
                                         args.trials, initial, strategy, blocks)
                    trace, gen = study_trace(runner)
                    traces[arm].append(trace)
                    gen = gen[args.initial_trials:] if optimiser != "sobol" else gen
                    generation[arm] += gen
                seconds[arm] += time.perf_counter() - started
                if args.runs:
                    done[key] = {"trace": traces[arm][-1], "gen": gen,
                                 "seconds": time.perf_counter() - started}
                    args.runs.write_text(json.dumps(done))
                print(f"{arm} seed {seed}: best metric {max(m for _, m in traces[arm][-1]):.4f}"
                      f" ({time.perf_counter() - started:.0f} s)", flush=True)

    everything = [point for runs in traces.values() for run in runs for point in run]
    reference = (-max(loss for loss, _ in everything), min(metric for _, metric in everything))
    budgets = [b for b in BUDGETS if b <= args.trials]
    medians: dict[tuple[str, int], tuple[float, float]] = {}
    print(f"\nreference point (−loss, metric) = ({reference[0]:.4f}, {reference[1]:.4f}); "
          f"{args.seeds} seeds; per-seed values in brackets")
    print(f"{'optimiser':>10} {'trials':>6} {'best metric (median)':>21} {'hypervolume (median)':>21}"
          f"  per seed: best metric | hypervolume")
    for name, runs in traces.items():
        for budget in budgets:
            best = [max(m for _, m in run[:budget]) for run in runs]
            volume = [hypervolume(run[:budget], reference) for run in runs]
            medians[name, budget] = (statistics.median(best), statistics.median(volume))
            print(f"{name:>10} {budget:>6} {medians[name, budget][0]:21.4f} "
                  f"{medians[name, budget][1]:21.5f}  [{' '.join(f'{b:.4f}' for b in best)}] | "
                  f"[{' '.join(f'{v:.5f}' for v in volume)}]")
    print("\nwall time per run (s): " + ", ".join(
        f"{name} {seconds[name] / args.seeds:.0f}" for name in traces))
    print("generation s per BO trial (mean): " + ", ".join(
        f"{name} {statistics.fmean(gen):.2f}" for name, gen in generation.items() if gen))
    if args.out:
        args.out.write_text(json.dumps({"reference": reference, "traces": traces,
                                        "generation_s": generation}, indent=1))


if __name__ == "__main__":
    main()
