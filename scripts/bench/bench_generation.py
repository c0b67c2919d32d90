"""Seconds per GP generation call (fit + acquisition optimisation) at 3, 15 and 24
searched dimensions, with the fixed optimiser budget and with ``auto``.

The real study loop of ``bench_pipeline.py`` (the quickstart config over the quickstart's
4 candidates, its fixed soup objective, evaluation taking no time) at three granularities
of the same merge: model-level weights (3 stick-breaking dimensions), block-wise with 3
blocks (embeddings, 3 blocks of 2 layers, head: 5 × 3 = 15) and layer-wise (embeddings, 6
layers, head: 8 × 3 = 24). Each run: ``--initial-trials`` Sobol trials, then ``--trials``
qLogNEHVI trials in turn (q = 1); per run the mean generation seconds of its BO trials and
the hypervolume after the last, printed as mean ± std over ``--seeds`` seeds, for
``num_restarts``/``raw_samples`` fixed at (8, 256) and at ``auto`` (min(d, 8) restarts and
min(32 · d, 256) raw samples, at least 2 and 64).

    python scripts/bench/bench_generation.py --study studies/quickstart [--seeds 3] [--trials 20]

``--generation-threads N [N ...]`` repeats each row with ``search.generation_threads`` (the
GP's torch threads) at each N; ``--budgets`` picks the budgets.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
from bench_pipeline import SoupObjective, _cell, run_search, study_runner  # noqa: E402
from bench_search import hypervolume  # noqa: E402

GRANULARITIES = {3: {"granularity": "model"}, 15: {"granularity": "block", "blocks": 3},
                 24: {"granularity": "layer"}}
BUDGETS = ("default", "auto")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "quickstart.yaml")
    parser.add_argument("--study", type=Path, default=REPO / "studies" / "quickstart",
                        help="a finished quickstart study: its candidates and baselines")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20, help="BO trials per run")
    parser.add_argument("--initial-trials", type=int, default=5)
    parser.add_argument("--dimensions", type=int, nargs="+", default=list(GRANULARITIES),
                        choices=list(GRANULARITIES))
    parser.add_argument("--budgets", nargs="+", default=list(BUDGETS), choices=BUDGETS)
    parser.add_argument("--generation-threads", type=int, nargs="+", default=[1],
                        help="search.generation_threads values (the GP's torch threads)")
    args = parser.parse_args()

    raw = yaml.safe_load(args.config.read_text())
    raw.pop("train", None)
    raw["candidates"] = {"glob": [str(args.study / "candidates" / "step-*")],
                         "base": str(args.study / "candidates" / "base")}
    objective = SoupObjective.from_study(args.study)
    reference = objective.reference()
    print(f"{'d':>3} {'budget':>8} {'threads':>7} {'gen s / BO trial':>18} {'hypervolume':>19}")
    with tempfile.TemporaryDirectory() as work:
        for dimensions in args.dimensions:
            for budget in args.budgets:
                for threads in args.generation_threads:
                    runs = []
                    for seed in range(args.seeds):
                        runner = study_runner(raw, args.config, Path(work),
                                              f"d{dimensions}-{budget}-{threads}-{seed}", seed,
                                              args.initial_trials + args.trials,
                                              args.initial_trials, 1, False, budget,
                                              GRANULARITIES[dimensions], threads)
                        lines = run_search(runner, objective, 0.0)
                        assert runner.space.dimensions() == dimensions, runner.space.dimensions()
                        runs.append({
                            "gen_s": statistics.mean(x["gen_s"] for x in lines
                                                     if x["node"] != "Sobol"),
                            "hv": hypervolume([(x["loss"], x["metric"]) for x in lines],
                                              reference)})
                    print(f"{dimensions:>3} {budget:>8} {threads:>7} "
                          f"{_cell(runs, 'gen_s', 1, 2):>18} {_cell(runs, 'hv', 1, 5):>19}",
                          flush=True)


if __name__ == "__main__":
    main()
