"""Prepare and combine cost of every merge method, on MiniLM and on a BERT-base-shaped model.

For each model the script builds K candidate checkpoints (the pretrained model plus seeded
perturbations standing in for fine-tunes, saved as normal model folders under ``--work``),
draws statistics rows from real SST-2 training sentences, then for every registered method
times ``prepare`` once and ``combine`` (median of ``--repeats``) and records peak memory.

``combine`` of ``weights`` and ``fisher`` is memory-bound: it reads K·P (weights) or 2·K·P
(fisher) values and writes P. The script times a plain ``copy_`` that moves the same number
of bytes on the same device and prints combine / copy — the issue's target is ≤ 2.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` above what was allocated before
the call; on CPU, the largest resident-set size seen by a 2 ms sampler above the RSS before
the call (so it counts the method's own temporaries and state, not the candidates or the
merge buffer). Combine memory is taken on one call, its time on separate calls without the
sampler running.

Usage::

    python scripts/bench/bench_methods.py                         # minilm and bert-base, K=3, CPU
    python scripts/bench/bench_methods.py --models minilm --device cuda --mats-iterations 100
"""

from __future__ import annotations

import argparse
import gc
import os
import threading
import time
from pathlib import Path
from typing import Any

import torch
from benchtools import copy_seconds, median_seconds, sync
from transformers import BertConfig, BertForSequenceClassification

from bomerge.config import DataConfig
from bomerge.merge import METHODS, build_method  # importing the package registers every method
from bomerge.merge.base import PrepareContext
from bomerge.merge.statistics import StatisticsSource, rows_fingerprint
from bomerge.models import load_tokenizer, packaged_minilm_path
from bomerge.pool import CandidatePool
from bomerge.tasks import get_task

REPO = Path(__file__).resolve().parents[2]
GLUE = REPO.parent / "shared" / "data" / "glue"
PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak memory above the level at entry, in MiB (CUDA allocator or sampled CPU RSS)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mib = 0.0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
            return self
        self._start = self._rss()
        self._high = self._start
        self._running = True

        def sample() -> None:
            while self._running:
                self._high = max(self._high, self._rss())
                time.sleep(0.002)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_mib = (torch.cuda.max_memory_allocated() - self._start) / 2**20
            return
        self._running = False
        self._thread.join()
        self._high = max(self._high, self._rss())
        self.peak_mib = (self._high - self._start) / 2**20






def build_candidates(model: str, k: int, work: Path, noise: float) -> tuple[list[Path], Path]:
    """Model folders ``base`` and ``candidate-i`` (base + N(0, noise·std(tensor)) per tensor,
    seeded by i), reused when they exist."""
    folder = work / model
    paths = [folder / f"candidate-{i}" for i in range(k)]
    base_dir = folder / "base"
    if all((p / "config.json").is_file() for p in [base_dir, *paths]):
        return paths, base_dir
    minilm = packaged_minilm_path()
    torch.manual_seed(0)
    if model == "minilm":
        base = BertForSequenceClassification.from_pretrained(minilm, num_labels=2)
    else:  # BERT-base shape (110M parameters), random weights, MiniLM's uncased vocabulary
        base = BertForSequenceClassification(BertConfig(vocab_size=30522, num_labels=2))
    tokenizer = load_tokenizer(minilm)
    base.save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    reference = {n: t.clone() for n, t in base.state_dict().items()}
    for i, path in enumerate(paths):
        generator = torch.Generator().manual_seed(1000 + i)
        with torch.no_grad():
            for name, tensor in base.state_dict().items():
                if tensor.is_floating_point():
                    scale = noise * float(reference[name].float().std().clamp_min(1e-3))
                    tensor.copy_(reference[name] + scale * torch.randn(
                        tensor.shape, generator=generator, dtype=tensor.dtype))
        base.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return paths, base_dir


def statistics_source(path: Path, examples: int, batch_size: int, max_length: int,
                      device: torch.device) -> StatisticsSource:
    task = get_task("sst2")
    rows = task.load_split(DataConfig(root=GLUE, hub=False), "train")[:examples]
    batches = task.batches(rows, load_tokenizer(path), max_length, batch_size, device)
    skeleton = task.skeleton(path, attention="eager").to(device)
    return StatisticsSource(skeleton, batches, task,
                            rows_fingerprint(batches, {"examples": examples}))




def bench_model(model: str, args: argparse.Namespace, device: torch.device) -> list[dict]:
    paths, base_dir = build_candidates(model, args.k, args.work, args.noise)
    pool = CandidatePool.load(paths, device)
    base, known = pool.load_base(base_dir)
    source = statistics_source(paths[0], args.examples, args.batch_size, args.max_length, device)
    out = pool.empty_merge_buffer().zero_()  # touched once, as in a study's first trial
    k, p = pool.k, pool.num_values
    print(f"\n{model}: K={k} candidates × P={p / 1e6:.1f}M values, statistics on "
          f"{args.examples} SST-2 train rows (max length {args.max_length}), device {device}")
    rows = []
    for name in args.methods:
        options: dict[str, Any] = {}
        if name == "mats":
            options["iterations"] = args.mats_iterations
        method = build_method(name, options)
        context = PrepareContext(pool=pool, base=base, base_known=known,
                                 statistics=source if method.uses_data() else None)
        with PeakMemory(device) as prepare_memory:
            started = time.perf_counter()
            state = method.prepare(context)
            sync(device)
            prepare_s = time.perf_counter() - started
        values = method.defaults(k)
        # Memory of one call, then time without the sampler thread running beside it.
        with PeakMemory(device) as combine_memory:
            method.combine(state, values, out)
        combine_s = median_seconds(lambda: method.combine(state, values, out), device,
                                   args.repeats)
        row = {"model": model, "method": name, "prepare_s": prepare_s,
               "prepare_mib": prepare_memory.peak_mib, "combine_s": combine_s,
               "combine_mib": combine_memory.peak_mib, "ratio": None}
        reads = {"weights": k * p, "fisher": 2 * k * p}.get(name)
        if reads is not None:
            # The same bytes as the merge's minimum traffic: K·P (or 2K·P) read + P written,
            # moved by one copy_ of (reads + P)/2 values (each read once, written once).
            copy_s = copy_seconds((reads + p) // 2, device, args.repeats)
            row |= {"copy_s": copy_s, "ratio": combine_s / copy_s}
        if name == "mats":
            print(f"  (mats: {args.mats_iterations} CG iterations, "
                  f"{combine_s / args.mats_iterations:.2f} s per iteration)")
        rows.append(row)
        print(f"  {name:16s} prepare {prepare_s:8.2f} s  peak {prepare_memory.peak_mib:8.0f} MiB"
              f" | combine {combine_s * 1e3:9.1f} ms  peak {combine_memory.peak_mib:7.0f} MiB"
              + (f" | copy of same bytes {row['copy_s'] * 1e3:7.1f} ms  ratio "
                 f"{row['ratio']:.2f}" if row["ratio"] is not None else ""), flush=True)
        del state, context
        gc.collect()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["minilm", "bert-base"],
                        choices=["minilm", "bert-base"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--k", type=int, default=3, help="number of candidates")
    parser.add_argument("--examples", type=int, default=32, help="statistics rows")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--mats-iterations", type=int, default=3,
                        help="CG iterations for MaTS (paper: 100; combine cost is linear in "
                             "them, so the script also prints the time per iteration)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bomerge-bench-methods"))
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    rows = [row for model in args.models for row in bench_model(model, args, device)]
    print("\nmodel      method            prepare s  prepare MiB  combine ms  combine MiB  "
          "combine/copy")
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        print(f"{r['model']:10s} {r['method']:16s} {r['prepare_s']:9.2f} {r['prepare_mib']:12.0f}"
              f" {r['combine_s'] * 1e3:11.1f} {r['combine_mib']:12.0f} {ratio:>13s}")
    bound = [r for r in rows if r["ratio"] is not None]
    worst = max((r["ratio"] for r in bound), default=float("nan"))
    print(f"\nworst combine/copy ratio for weights and fisher: {worst:.2f} (target ≤ 2)")


if __name__ == "__main__":
    main()
