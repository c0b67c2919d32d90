"""Where a trial's time goes, and whether the evaluator waits for the optimiser.

Runs the same study twice on the same candidates — trials generated and evaluated in turn
(the default) and with ``search.overlap`` (the next trial generated while the current one
is evaluated) — and prints, per trial, generation (GP fit + acquisition optimisation),
merge, evaluation and bookkeeping (Ax storage and the log) seconds, then for each mode the
evaluator's idle fraction over the search (1 − Σ evaluation spans / wall span) and the
bookkeeping share of the wall span (in overlapped mode bookkeeping runs in the main thread
while the next trial is evaluated, so it shows in that share but not in the idle fraction).

    python scripts/bench/bench_trial.py --candidates 'studies/quickstart/candidates/step-*' \\
        [--config configs/quickstart.yaml] [--trials 40]

With ``--fast-eval R [R ...]`` it measures instead whether the evaluator is kept busy when
it is R times faster than one generation call (``bench_pipeline.py``):

    python scripts/bench/bench_trial.py --fast-eval 1 10 30 --study studies/quickstart \\
        [--seeds 3] [--trials 40] [--modes q1-in-turn q4-pipelined q8-pipelined q16-pipelined]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bomerge.config import parse_config
from bomerge.search.config_names import check_names
from bomerge.search.runner import StudyRunner
from bomerge.search.study.store import StudyStore

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "bench"))
from bench_pipeline import MODES, fast_eval  # noqa: E402


def run_study(raw: dict, config_path: Path, studies: Path, name: str, overlap: bool,
              trials: int, batch_size: int = 1) -> list[dict]:
    data = dict(raw) | {"name": name, "studies_dir": str(studies)}
    data["search"] = dict(data.get("search") or {}) | {"trials": trials, "overlap": overlap,
                                                        "batch_size": batch_size}
    config = check_names(parse_config(data, str(config_path), config_path.resolve().parent),
                         str(config_path))
    store = StudyStore(config.study_dir)
    store.create(config)
    started = time.perf_counter()
    StudyRunner(store, config, show_progress=False).run()
    print(f"{name}: study wall time {time.perf_counter() - started:.1f} s")
    return [line for line in store.read_log() if line["node"] != "baseline"]


def summarise(name: str, lines: list[dict]) -> dict[str, float]:
    span = max(x["t_end"] for x in lines) - min(x["t_start"] for x in lines)
    busy = sum(x["t_end"] - x["t_start"] for x in lines)
    book = sum(x.get("book_s", 0.0) for x in lines)
    return {"mode": name, "trials": len(lines), "span_s": span,
            "trial_s": span / len(lines), "idle": 1 - busy / span, "book": book / span,
            "gen_s": sum(x["gen_s"] for x in lines) / len(lines),
            "merge_s": sum(x["merge_s"] for x in lines) / len(lines),
            "eval_s": sum(x["eval_s"] for x in lines) / len(lines),
            "book_s": book / len(lines)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "quickstart.yaml")
    parser.add_argument("--candidates", help="glob of candidate folders (replaces train:)")
    parser.add_argument("--base", help="base model folder or 'minilm'")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--initial-trials", type=int, default=5)
    parser.add_argument("--fast-eval", type=int, nargs="+", metavar="R",
                        help="evaluator R times faster than a generation (bench_pipeline.py)")
    parser.add_argument("--study", type=Path, default=REPO / "studies" / "quickstart",
                        help="--fast-eval: the finished quickstart study (candidates, scores)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--budget", choices=["default", "auto"], default="default",
                        help="--fast-eval: the runs' optimiser budget (num_restarts/raw_samples)")
    parser.add_argument("--generation-threads", type=int,
                        help="--fast-eval: search.generation_threads, the GP's torch threads")
    parser.add_argument("--generation-seconds", type=float,
                        help="--fast-eval: one generation's seconds (default: measured)")
    args = parser.parse_args()
    if args.fast_eval:
        fast_eval(args)
        return
    raw = yaml.safe_load(args.config.read_text())
    if args.candidates:
        raw.pop("train", None)
        raw["candidates"] = {"glob": [args.candidates], **({"base": args.base} if args.base else {})}
    raw["search"] = dict(raw.get("search") or {}) | {"initial_trials": args.initial_trials,
                                                      "baselines": False}
    with tempfile.TemporaryDirectory() as folder:
        modes = {}
        for name, overlap in (("in-turn", False), ("overlapped", True)):
            modes[name] = run_study(raw, args.config, Path(folder), name, overlap, args.trials)
    for name, lines in modes.items():
        print(f"\n{name}: per trial (seconds)")
        print(f"{'trial':>5} {'node':>9} {'generate':>9} {'merge':>7} {'evaluate':>9} {'book':>7}")
        for x in lines:
            print(f"{x['trial']:>5} {x['node']:>9} {x['gen_s']:9.3f} {x['merge_s']:7.3f} "
                  f"{x['eval_s']:9.3f} {x.get('book_s', 0):7.3f}")
    print(f"\n{'mode':>11} {'trials':>6} {'s/trial':>8} {'gen s':>6} {'eval s':>7} "
          f"{'evaluator idle':>15} {'bookkeeping':>12}")
    rows = [summarise(name, lines) for name, lines in modes.items()]
    for r in rows:
        print(f"{r['mode']:>11} {r['trials']:>6} {r['trial_s']:8.2f} {r['gen_s']:6.2f} "
              f"{r['eval_s']:7.2f} {r['idle']:15.1%} {r['book']:12.1%}")
    print(f"overlapped / in-turn time per trial: {rows[1]['trial_s'] / rows[0]['trial_s']:.2f} "
          "(targets: idle <= 10% overlapped, bookkeeping <= 2%)")


if __name__ == "__main__":
    main()
