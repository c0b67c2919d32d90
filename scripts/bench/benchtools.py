"""Timing helpers shared by the benchmark scripts (imported from the scripts' own folder)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_seconds(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median of ``repeats`` timed calls after one warm-up call (first-touch page faults
    and kernel selection are not the steady state); a warm-up over 2 s is the answer."""
    started = time.perf_counter()
    fn()
    sync(device)
    if time.perf_counter() - started > 2.0:
        return time.perf_counter() - started
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def copy_seconds(values: int, device: torch.device, repeats: int) -> float:
    """Median time of ``dst.copy_(src)`` over ``values`` float32 values: it reads and
    writes ``values`` each, so it moves 2·values·4 bytes."""
    src = torch.randn(values, device=device)
    dst = torch.zeros_like(src)  # touched: page faults are not part of a copy
    seconds = median_seconds(lambda: dst.copy_(src), device, repeats)  # noqa: F821 - runs before the del
    del src, dst
    return seconds
