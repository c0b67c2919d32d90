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

    python scripts/bench/bench_search.py --candidates 'studies/quickstart/candidates/step-*' \\
        [--config configs/quickstart.yaml] [--seeds 3] [--trials 40] [--blocks 3] \\
        [--arms model-gp block-gp block-saas block-sobol block-cmaes] [--out search.json]
    python scripts/bench/bench_search.py --listing ~/.cache/bomerge/glue-candidates/mrpc/candidates.json \\
        --setting swa        # scripts/results/make_candidates.py's candidates of one task (swa | soup)

It also prints each arm's mean generation seconds per trial (``gen_s`` of trials.jsonl).

**Early stopping** (``--early-stopping``): the ``-es`` arms (``model-gp-es``, ``block-gp-es``,
``block-saas-es``) are the same studies with ``search.early_stopping`` on (``--chunks``,
``--min-progression``, ``--percentile``, ``--rule``); the flag alone runs ``model-gp``, ``model-gp-es``,
``block-gp`` and ``block-gp-es``. Their real cost is the selection rows scored (a stopped
trial counts the rows it was scored on), so the table adds the rows each run scored and
the hypervolume per arm with its seed-std; a stopped trial is never a point of the front.

    python scripts/bench/bench_search.py --listing ~/.cache/bomerge/glue-candidates/sst2/candidates.json \
        --setting soup --early-stopping --runs sst2_es.json
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
from bomerge.search.config_names import check_names
from bomerge.search.runner import StudyRunner
from bomerge.search.study.store import StudyStore

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "glue"
BUDGETS = (10, 20, 40)
Trace = list[tuple[float, float]]  # (loss, metric) of each trial, in trial order


ARMS = ("model-gp", "model-sobol", "model-cmaes", "block-gp", "block-saas", "block-sobol",
        "block-cmaes", "model-gp-es", "block-gp-es", "block-saas-es")
EARLY_STOPPING_ARMS = ["model-gp", "model-gp-es", "block-gp", "block-gp-es"]
Run = dict  # {"trace": [(loss, metric)], "stopped": [bool], "rows": [int], ...} of one run


def listing_config(listing_path: Path, setting: str, selection_rows: int) -> dict:
    """A study config for the candidates ``scripts/results/make_candidates.py`` listed for one task:
    its task, max length and ``setting``'s candidates, scored on (at most ``selection_rows``
    of) the selection half of dev, as ``scripts/results/results.py`` scores them."""
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
                blocks: int | None = None, early_stopping: dict | None = None) -> StudyRunner:
    data = dict(raw) | {"name": name, "studies_dir": str(studies), "seed": seed}
    data["search"] = dict(data.get("search") or {}) | {
        "trials": trials, "initial_trials": initial, "baselines": False, "overlap": True,
        "strategy": strategy,
    }
    if early_stopping is not None:
        data["search"]["early_stopping"] = {"enabled": True, **early_stopping}
    if blocks is not None:
        data["merge"] = dict(data.get("merge") or {}) | {"granularity": "block",
                                                         "blocks": blocks}
    config = check_names(parse_config(data, str(config_path), config_path.resolve().parent),
                         str(config_path))
    store = StudyStore(config.study_dir)
    store.create(config)
    return StudyRunner(store, config, show_progress=False)


def study_trace(runner: StudyRunner) -> tuple[Trace, list[float], list[bool], list[int]]:
    """The (loss, metric) of each scored trial (running scores for one stopped early), each
    trial's generation seconds, whether it was stopped early, and the rows it was scored on."""
    runner.run()
    lines = sorted(runner.store.read_log(), key=lambda x: x["trial"])
    done = [x for x in lines if x["status"] in ("COMPLETED", "EARLY_STOPPED")]
    return ([(x["loss"], x["metric"]) for x in done], [x.get("gen_s", 0.0) for x in done],
            [x["status"] == "EARLY_STOPPED" for x in done], [x["rows"] for x in done])


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
    """Area dominated by the (−loss, metric) points above the reference point (0 for none)."""
    if not trace:
        return 0.0
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
                        help="instead: a task's candidates.json from scripts/results/make_candidates.py")
    parser.add_argument("--setting", choices=("swa", "soup"), default="swa",
                        help="with --listing: the SWA snapshots or the soup fine-tunes")
    parser.add_argument("--selection-rows", type=int, default=200,
                        help="with --listing: selection rows each trial is scored on")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--initial-trials", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=3, help="blocks of block-* arms")
    parser.add_argument("--arms", nargs="+", choices=ARMS)
    parser.add_argument("--early-stopping", action="store_true",
                        help="compare studies with and without early stopping (default arms "
                        + " ".join(EARLY_STOPPING_ARMS) + ")")
    parser.add_argument("--chunks", type=int, default=4, help="-es arms: chunks")
    parser.add_argument("--min-progression", type=float, default=0.25,
                        help="-es arms: fraction of rows before a trial may be stopped")
    parser.add_argument("--percentile", type=float, default=50.0,
                        help="-es arms, rule percentile: stop below this percentile")
    parser.add_argument("--rule", choices=["percentile", "dominance"], default="percentile",
                        help="-es arms: search.early_stopping.rule")
    parser.add_argument("--out", type=Path, help="also write every trace as JSON here")
    parser.add_argument("--runs", type=Path,
                        help="keep each finished run here and skip those already in it (resume)")
    args = parser.parse_args()
    args.arms = args.arms or (EARLY_STOPPING_ARMS if args.early_stopping else
                              [a for a in ARMS if not a.endswith("-es")])
    if args.listing is not None:
        raw = listing_config(args.listing.expanduser().resolve(), args.setting, args.selection_rows)
        args.config = args.listing.expanduser().resolve()
    elif args.candidates:
        raw = yaml.safe_load(args.config.read_text())
        raw.pop("train", None)
        raw["candidates"] = {"glob": [args.candidates]}
    else:
        parser.error("give --candidates (with --config) or --listing")
    stopping = {"chunks": args.chunks, "min_progression": args.min_progression,
                "percentile": args.percentile, "rule": args.rule}

    runs: dict[str, list[Run]] = {arm: [] for arm in args.arms}
    # Finished runs are kept in --runs as they finish, so an interrupted benchmark resumes.
    done: dict[str, dict] = json.loads(args.runs.read_text()) if args.runs and args.runs.is_file() else {}
    with tempfile.TemporaryDirectory() as folder:
        studies = Path(folder)
        scorers: dict[str, StudyRunner] = {}
        for seed in range(args.seeds):
            for arm in args.arms:
                key = f"{arm}/{seed}"
                if key in done:
                    runs[arm].append(done[key])
                    continue
                level, optimiser, *flags = arm.split("-")
                blocks = args.blocks if level == "block" else None
                started = time.perf_counter()
                run: Run = {"gen": []}
                if optimiser == "cmaes":
                    if level not in scorers:
                        scorers[level] = make_runner(raw, args.config, studies, f"cma-{level}",
                                                     0, 0, 1, blocks=blocks)
                        scorers[level].open()
                    run["trace"] = cma_trace(scorers[level], seed, args.trials)
                else:
                    initial = args.trials if optimiser == "sobol" else args.initial_trials
                    strategy = "saas" if optimiser == "saas" else "gp"
                    runner = make_runner(raw, args.config, studies, f"{arm}-{seed}", seed,
                                         args.trials, initial, strategy, blocks,
                                         stopping if "es" in flags else None)
                    run["trace"], gen, run["stopped"], run["rows"] = study_trace(runner)
                    run["gen"] = gen[args.initial_trials:] if optimiser != "sobol" else gen
                run["seconds"] = time.perf_counter() - started
                runs[arm].append(run)
                if args.runs:
                    done[key] = run
                    args.runs.write_text(json.dumps(done))
                print(f"{arm} seed {seed}: best metric {best_metric(run, args.trials):.4f} "
                      f"({run['seconds']:.0f} s)", flush=True)

    everything = [point for arm_runs in runs.values() for run in arm_runs
                  for point in full_points(run, args.trials)]
    reference = (-max(loss for loss, _ in everything), min(metric for _, metric in everything))
    budgets = [b for b in BUDGETS if b <= args.trials]
    print(f"\nreference point (−loss, metric) = ({reference[0]:.4f}, {reference[1]:.4f}); "
          f"{args.seeds} seeds; per-seed values in brackets")
    print(f"{'optimiser':>13} {'trials':>6} {'best metric (median)':>21} {'hypervolume (median)':>21}"
          f"  per seed: best metric | hypervolume")
    for name, arm_runs in runs.items():
        for budget in budgets:
            best = [best_metric(run, budget) for run in arm_runs]
            volume = [hypervolume(full_points(run, budget), reference) for run in arm_runs]
            print(f"{name:>13} {budget:>6} {statistics.median(best):21.4f} "
                  f"{statistics.median(volume):21.5f}  [{' '.join(f'{b:.4f}' for b in best)}] | "
                  f"[{' '.join(f'{v:.5f}' for v in volume)}]")
    print("\nwall time per run (s): " + ", ".join(
        f"{name} {statistics.fmean(r['seconds'] for r in arm_runs):.0f}"
        for name, arm_runs in runs.items()))
    print("generation s per BO trial (mean): " + ", ".join(
        f"{name} {statistics.fmean(g for r in arm_runs for g in r['gen']):.2f}"
        for name, arm_runs in runs.items() if any(r["gen"] for r in arm_runs)))
    if any(name.endswith("-es") for name in runs):
        # rows of a full evaluation: what the early-stopping runs recorded for a full trial
        full_rows = max((n for arm_runs in runs.values() for r in arm_runs for n in r.get("rows") or []),
                        default=args.selection_rows)
        print_cost_table(runs, reference, args.trials, full_rows)
    if args.out:
        args.out.write_text(json.dumps({"reference": reference, "runs": runs}, indent=1))


def full_points(run: Run, budget: int) -> Trace:
    """The (loss, metric) of the trials among the first ``budget`` scored on every row."""
    stopped = run.get("stopped") or [False] * len(run["trace"])
    return [tuple(p) for p, cut in zip(run["trace"][:budget], stopped[:budget], strict=False)
            if not cut]


def best_metric(run: Run, budget: int) -> float:
    return max(m for _, m in full_points(run, budget))


def print_cost_table(runs: dict[str, list[Run]], reference: tuple[float, float], trials: int,
                     rows_per_trial: int) -> None:
    """Each early-stopping arm against its full-evaluation twin at the same trials: the
    hypervolume (mean ± seed-std), best metric, the rows scored and their ratio."""

    def rows_of(arm_runs: list[Run]) -> list[int]:  # a run without "rows" scored every row
        return [sum(r.get("rows") or [rows_per_trial] * len(r["trace"])) for r in arm_runs]

    def volumes_of(arm_runs: list[Run]) -> list[float]:
        return [hypervolume(full_points(r, trials), reference) for r in arm_runs]

    def spread(values: list[float]) -> float:
        return statistics.stdev(values) if len(values) > 1 else 0.0

    print(f"\nearly stopping at {trials} trials: cost = selection rows scored; 'twin at equal "
          "rows' = the full-evaluation run of the same seed cut at the trials those rows buy")
    print(f"{'arm':>13} {'hypervolume (mean ± std)':>26} {'best metric':>12} {'rows':>8} "
          f"{'rows ratio':>10} {'stopped':>8} {'within 1 std':>12} {'twin at equal rows':>22}")
    for name, arm_runs in runs.items():
        volumes, rows = volumes_of(arm_runs), rows_of(arm_runs)
        stopped = [sum(r.get("stopped") or []) for r in arm_runs]
        twin = runs.get(name.removesuffix("-es")) if name.endswith("-es") else None
        ratio = within = equal_cost = ""
        if twin:
            twin_volumes = volumes_of(twin)
            ratio = f"{statistics.fmean(rows) / statistics.fmean(rows_of(twin)):.2f}"
            level = statistics.fmean(twin_volumes) - spread(twin_volumes)
            within = "yes" if statistics.fmean(volumes) >= level else "no"
            cut = [hypervolume(full_points(t, n // rows_per_trial), reference)
                   for t, n in zip(twin, rows, strict=False)]
            equal_cost = f"{statistics.fmean(cut):.5f} ± {spread(cut):.5f}"
        print(f"{name:>13} {statistics.fmean(volumes):17.5f} ± {spread(volumes):.5f} "
              f"{statistics.median(best_metric(r, trials) for r in arm_runs):12.4f} "
              f"{statistics.fmean(rows):8.0f} {ratio:>10} {statistics.fmean(stopped):8.1f} "
              f"{within:>12} {equal_cost:>22}")


if __name__ == "__main__":
    main()
