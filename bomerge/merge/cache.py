"""Statistics cached under a study: written atomically, keyed by what they depend on.

Each entry is one safetensors file ``statistics/KIND-HASH.safetensors`` whose metadata holds
the full key (each candidate's folder and SHA-256 of its weights, the statistics rows'
fingerprint, the settings). It is written to a temporary sibling and renamed into place, so
a crash leaves either the old file or the new one. A file whose key does not match, or that
cannot be read (a truncated or damaged file), is recomputed, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from rich.console import Console
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

if TYPE_CHECKING:
    from bomerge.pool import CandidatePool


def candidate_signature(folder: Path) -> dict[str, object]:
    """What identifies a candidate's weights: its folder and the SHA-256 of its weight file
    (hashed once per process per file version)."""
    from bomerge.integrity import weight_file_sha256

    return {"folder": str(folder.resolve()), "sha256": weight_file_sha256(folder)}


def row_signature(pool: CandidatePool, index: int) -> dict[str, object]:
    """What statistics computed at the pool's row ``index`` depend on: its candidate's
    weights and, in a half-precision pool, the type they were rounded to (a float32 pool
    keeps the key of the checkpoint alone, so existing cache entries stay valid)."""
    signature = candidate_signature(pool.paths[index])
    if pool.rounded:
        signature["stored_as"] = str(pool.stacked.dtype).removeprefix("torch.")
    return signature


class StatisticsCache:
    """Statistics kept as safetensors files under ``directory``, keyed by what they depend
    on; a ``read_only`` cache reads what is there and keeps what it computes in memory."""

    def __init__(self, directory: Path, console: Console | None = None,
                 read_only: bool = False) -> None:
        self.directory = directory
        self.console = console or Console(stderr=True, quiet=True)
        self.read_only = read_only

    def path(self, kind: str, key: Mapping[str, object]) -> Path:
        digest = hashlib.sha256(_canonical(key).encode()).hexdigest()[:20]
        return self.directory / f"{kind}-{digest}.safetensors"

    def load(self, kind: str, key: Mapping[str, object]) -> dict[str, torch.Tensor] | None:
        """The cached tensors for ``key``, or None if absent, stale or unreadable."""
        path = self.path(kind, key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                stored_key = (handle.metadata() or {}).get("key")
                if stored_key != _canonical(key):
                    self.console.print(f"[yellow]{path.name}: cache key differs, recomputing[/]")
                    return None
                return {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as error:
            self.console.print(f"[yellow]{path.name}: unreadable cache ({error}), recomputing[/]")
            return None

    def store(self, kind: str, key: Mapping[str, object],
              tensors: Mapping[str, torch.Tensor]) -> Path:
        path = self.path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".tmp-{os.getpid()}")
        save_file(
            {name: t.detach().contiguous().cpu() for name, t in tensors.items()},
            str(temporary), metadata={"key": _canonical(key)},
        )
        os.replace(temporary, path)
        return path

    def get_or_compute(
        self,
        kind: str,
        key: Mapping[str, object],
        compute: Callable[[], Mapping[str, torch.Tensor]],
    ) -> dict[str, torch.Tensor]:
        cached = self.load(kind, key)
        if cached is not None:
            return cached
        tensors = dict(compute())
        if not self.read_only:
            self.store(kind, key, tensors)
        return tensors


def cached(
    cache: StatisticsCache | None,
    kind: str,
    key: Mapping[str, object],
    compute: Callable[[], Mapping[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """``compute()`` through ``cache`` when there is one."""
    if cache is None:
        return dict(compute())
    return cache.get_or_compute(kind, key, compute)


def _canonical(key: Mapping[str, object]) -> str:
    return json.dumps(key, sort_keys=True, default=str)
