"""The quickstart's search part, before and after the throughput settings, on its own real
candidates and evaluator: wall seconds of the search (first trial's start to the last
trial's end) and the hypervolume of its (−loss, metric) points above the worst candidate's
(the study's recorded selection scores), mean ± std over seeds.

* ``before``: trials in turn, q = 1, the optimiser's fixed budget (8 restarts, 256 raw
  samples), the GP on torch's default threads (every core): the quickstart config as
  shipped before ``search.generation_threads``;
* ``shipped``: the same with the GP on 1 thread (``generation_threads``' default): the
  quickstart config as shipped;
* ``overlap``: the next trial generated while one is evaluated (``search.overlap``), q = 1;
* ``overlap-auto``: the same with ``num_restarts``/``raw_samples: auto`` (3 dimensions: 3
  restarts, 96 raw samples);
* ``pipeline-auto``: ``batch_size: auto`` as well;
* ``process-auto``: ``overlap-auto`` with ``executor: process``: the evaluations in a process
  of their own, the torch threads split between it and the study process.

*search wall s* spans the first search trial's start to the last one's end; *run wall s* is
the whole ``StudyRunner.run`` (loading the candidates, the client, an evaluation process's
start-up and the search), the fair comparison where an executor starts something first.

    python scripts/bench/bench_quickstart.py --study studies/quickstart [--seeds 3] [--trials 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
from bench_pipeline import SoupObjective, hypervolume  # noqa: E402

from bomerge.config import parse_config  # noqa: E402
from bomerge.search.config_names import check_names  # noqa: E402
from bomerge.search.runner import StudyRunner  # noqa: E402
from bomerge.search.study.store import StudyStore  # noqa: E402

SETTINGS = {
    "before": {"overlap": False, "generation_threads": torch.get_num_threads()},
    "shipped": {"overlap": False},
    "overlap": {"overlap": True},
    "overlap-auto": {"overlap": True, "num_restarts": "auto", "raw_samples": "auto"},
    "pipeline-auto": {"overlap": True, "num_restarts": "auto", "raw_samples": "auto",
                      "batch_size": "auto"},
    "process-auto": {"overlap": True, "num_restarts": "auto", "raw_samples": "auto",
                     "executor": "process"},
}


def search_lines(raw: dict, config_path: Path, studies: Path, name: str, seed: int,
                 trials: int, settings: dict) -> tuple[list[dict], float]:
    """The search trials' log lines and the seconds of the whole run."""
    settings = dict(settings)
    data = dict(raw) | {"name": name, "studies_dir": str(studies), "seed": seed,
                        "executor": settings.pop("executor", "local")}
    data["search"] = dict(data.get("search") or {}) | {"trials": trials, "baselines": False,
                                                        **settings}
    config = check_names(parse_config(data, str(config_path), config_path.resolve().parent),
                         str(config_path))
    store = StudyStore(config.study_dir)
    store.create(config)
    runner = StudyRunner(store, config, show_progress=False)
    runner.finish = lambda: None  # type: ignore[method-assign] - the search part only
    started = time.perf_counter()
    runner.run()
    wall = time.perf_counter() - started
    return [x for x in store.read_log() if x["node"] != "baseline"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "quickstart.yaml")
    parser.add_argument("--study", type=Path, default=REPO / "studies" / "quickstart")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    raw = yaml.safe_load(args.config.read_text())
    raw.pop("train", None)
    raw["candidates"] = {"glob": [str(args.study / "candidates" / "step-*")],
                         "base": str(args.study / "candidates" / "base")}
    runs: dict[str, list[list[dict]]] = {}
    run_walls: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as work:
        for name in args.settings:
            runs[name], run_walls[name] = [], []
            for seed in range(args.seeds):
                lines, wall = search_lines(raw, args.config, Path(work), f"{name}-{seed}",
                                           seed, args.trials, SETTINGS[name])
                runs[name].append(lines)
                run_walls[name].append(wall)
                print(f"{name} seed {seed}: {wall:.0f} s", flush=True)
    reference = SoupObjective.from_study(args.study).reference()  # the worst candidate
    print(f"\n{'setting':>14} {'search wall s':>15} {'run wall s':>12} {'gen s/trial':>12} "
          f"{'eval s/trial':>13} {'hypervolume':>19}")
    base = None
    for name, seeds in runs.items():
        walls = [max(x["t_end"] for x in lines) - min(x["t_start"] for x in lines)
                 for lines in seeds]
        volumes = [hypervolume([(x["loss"], x["metric"]) for x in lines if x["loss"] is not None],
                               reference) for lines in seeds]
        gen = statistics.mean(x["gen_s"] for lines in seeds for x in lines)
        ev = statistics.mean(x["eval_s"] + x["merge_s"] for lines in seeds for x in lines)
        base = base or statistics.mean(walls)
        print(f"{name:>14} {_cell(walls, 0):>15} {_cell(run_walls[name], 0):>12} {gen:12.2f} "
              f"{ev:13.2f} {_cell(volumes, 5):>19}   search wall ×{statistics.mean(walls) / base:.2f}")


def _cell(values: list[float], digits: int) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


if __name__ == "__main__":
    main()
