"""Merge at the memory-bandwidth limit: `weights` and `fisher` combine against a plain copy.

For K candidates of P float32 values, the `weights` combine reads K·P values and writes P;
`fisher` reads 2·K·P ((F+ε)⊙θ and F+ε) and writes P. No merge can move fewer bytes, so the
floor is the time of a plain ``copy_`` of the same number of bytes on the same device. This
script builds a BERT-base-shaped pool (110M values, random weights: the arithmetic does not
depend on the values), times each combine into the study's preallocated buffer (the same
code path a trial runs) and prints combine time, copy time and their ratio for K = 3, 5, 10.

    python scripts/bench_merge.py [--device cpu|cuda] [--values 110000000] [--k 3 5 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from benchtools import copy_seconds, median_seconds

from bomerge.merge.fisher import FisherMerge
from bomerge.merge.weights import WeightedAverage
from bomerge.pool import CandidatePool, Slot

BERT_BASE_VALUES = 109_483_778  # bert-base-uncased with a 2-class head






def random_pool(k: int, values: int, device: torch.device) -> CandidatePool:
    generator = torch.Generator(device=device).manual_seed(k)
    stacked = torch.randn((k, values), generator=generator, device=device)
    return CandidatePool([Path(f"candidate-{i}") for i in range(k)], stacked,
                         [Slot("flat", 0, (values,))], {}, {"flat": torch.float32})




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--values", type=int, default=BERT_BASE_VALUES)
    parser.add_argument("--k", type=int, nargs="+", default=[3, 5, 10])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = torch.get_num_threads() if device.type == "cpu" else None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {threads} threads"
    print(f"device: {name}; P = {args.values / 1e6:.1f}M float32 values; median of {args.repeats}")
    print(f"{'K':>3} {'method':>8} {'GB moved':>9} {'combine ms':>11} {'copy ms':>9} {'ratio':>6} {'GB/s':>6}")
    worst = 0.0
    for k in args.k:
        pool = random_pool(k, args.values, device)
        out = pool.empty_merge_buffer()
        rng = np.random.default_rng(k)
        weights = rng.dirichlet(np.ones(k))
        methods = [("weights", WeightedAverage(), pool, {"w": weights}, k)]
        fisher = FisherMerge()
        diagonal = torch.rand((k, args.values), device=device)
        methods.append(("fisher", fisher, fisher.state_from_fisher(pool, diagonal),
                        {"lambda": weights}, 2 * k))
        del diagonal
        for label, method, state, values, reads in methods:
            combine_s = median_seconds(lambda: method.combine(state, values, out), device,
                                       args.repeats)
            moved = (reads + 1) * args.values
            copy_s = copy_seconds(moved // 2, device, args.repeats)
            ratio = combine_s / copy_s
            worst = max(worst, ratio)
            print(f"{k:>3} {label:>8} {moved * 4 / 1e9:9.2f} {combine_s * 1e3:11.1f} "
                  f"{copy_s * 1e3:9.1f} {ratio:6.2f} {moved * 4 / 1e9 / combine_s:6.1f}")
        del methods, state, pool, out
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"worst combine/copy ratio: {worst:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
