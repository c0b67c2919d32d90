"""Merge at the memory-bandwidth limit: `weights` and `fisher` combine against a plain copy.

For K candidates of P float32 values, the `weights` combine reads K·P values and writes P;
`fisher` reads 2·K·P ((F+ε)⊙θ and F+ε) and writes P. No merge can move fewer bytes, so the
floor is the time of a plain ``copy_`` of the same number of bytes on the same device. This
script builds a BERT-base-shaped pool (110M values, random weights: the arithmetic does not
depend on the values), times each combine into the study's preallocated buffer (the same
code path a trial runs) and prints combine time, copy time and their ratio for K = 3, 5, 10.

Block-wise rows (``weights/block4``, ``weights/layer`` …) time the same combine with its
own coefficients per group (embeddings, 4 blocks or each of the 12 layers, head), streamed
in one pass over the groups' slices, and print the ratio to the model-level combine
(target ≤ 1.2).

    python scripts/bench/bench_merge.py [--device cpu|cuda] [--values 110000000] [--k 3 5 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from benchtools import copy_seconds, median_seconds

from bomerge.merge.fisher import FisherMerge
from bomerge.merge.groups import ParameterGroups, block_of_layer, group_names
from bomerge.merge.weights import WeightedAverage
from bomerge.pool import CandidatePool, Slot

BERT_BASE_VALUES = 109_483_778  # bert-base-uncased with a 2-class head
BERT_BASE_EMBEDDINGS = 23_837_184  # word, position and type embeddings + their LayerNorm
BERT_BASE_LAYER = 7_087_872
BERT_BASE_LAYERS = 12


def block_groups(sizes: list[int], blocks: int) -> ParameterGroups:
    """Groups of a flat ``(P,)`` layout whose tensors are ``sizes`` = ``[embeddings, layer
    0, …, layer L−1, rest]`` values: the embeddings, ``blocks`` contiguous runs of the
    layers (``blocks`` = L: one per layer) and the rest (pooler and classifier)."""
    layers = len(sizes) - 2
    merged = [sizes[0]] + [sum(sizes[1 + i] for i in range(layers)
                               if block_of_layer(i, layers, blocks) == b) for b in range(blocks)]
    merged.append(sizes[-1])
    names = group_names("layer" if blocks == layers else "block",
                        None if blocks == layers else blocks, layers)
    offsets = np.concatenate([[0], np.cumsum(merged)])
    ranges = tuple((slice(int(a), int(b)),) for a, b in zip(offsets[:-1], offsets[1:]))
    return ParameterGroups(names, ranges, {})


def bert_base_groups(values: int, blocks: int) -> ParameterGroups:
    """BERT-base's groups (``block_groups``) in a flat layout of ``values``, scaled down
    proportionally for a smaller ``values``."""
    scale = values / BERT_BASE_VALUES
    sizes = [int(BERT_BASE_EMBEDDINGS * scale)] + [int(BERT_BASE_LAYER * scale)] * BERT_BASE_LAYERS
    return block_groups(sizes + [values - sum(sizes)], blocks)


def random_pool(k: int, values: int, device: torch.device,
                dtype: torch.dtype = torch.float32) -> CandidatePool:
    """K random candidates of ``values`` values stacked in ``dtype`` (``merge.pool_dtype``)."""
    generator = torch.Generator(device=device).manual_seed(k)
    stacked = torch.randn((k, values), generator=generator, device=device, dtype=dtype)
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
    worst, worst_block = 0.0, 0.0
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
            for blocks in (4, BERT_BASE_LAYERS):
                groups = bert_base_groups(args.values, blocks)
                name = next(iter(values))
                per_group = [{**values, name: rng.dirichlet(np.ones(k))} for _ in groups.names]
                block_s = median_seconds(
                    lambda: method.combine_groups(state, per_group, groups, out), device,
                    args.repeats)
                tag = "layer" if blocks == BERT_BASE_LAYERS else f"block{blocks}"
                block_ratio = block_s / combine_s
                worst_block = max(worst_block, block_ratio)
                print(f"{k:>3} {label + '/' + tag:>15} {block_s * 1e3:11.1f} ms  "
                      f"{len(groups.names)} groups; block / model-level combine = {block_ratio:.2f}")
        del methods, state, pool, out
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"worst combine/copy ratio: {worst:.2f} (target <= 1.3)")
    print(f"worst block-wise / model-level combine ratio: {worst_block:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
