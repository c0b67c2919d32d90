"""Pools built from small hand-made tensors, for checking merge formulas exactly."""

from __future__ import annotations

from pathlib import Path

import torch

from bomerge.pool import CandidatePool, Slot


def toy_pool(tensors: dict[str, torch.Tensor]) -> CandidatePool:
    """A pool whose candidate i holds ``tensors[name][i]`` for every name (float64, so
    formulas can be compared tightly)."""
    k = next(iter(tensors.values())).shape[0]
    slots, rows, offset = [], [], 0
    for name, value in tensors.items():
        slots.append(Slot(name, offset, tuple(value.shape[1:])))
        rows.append(value.reshape(k, -1))
        offset += rows[-1].shape[1]
    stacked = torch.cat(rows, dim=1).double()
    return CandidatePool([Path(f"toy-{i}") for i in range(k)], stacked, slots, {},
                         {name: torch.float64 for name in tensors})
