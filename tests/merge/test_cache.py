"""bomerge.merge.cache: statistics are reused only when their key matches and the file reads."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from bomerge.merge.cache import StatisticsCache, candidate_signature


def counting(value: float):
    calls = []

    def compute():
        calls.append(1)
        return {"fisher": torch.full((4,), value)}

    return compute, calls


def test_a_cached_entry_is_computed_once_and_then_read_back(tmp_path):
    cache = StatisticsCache(tmp_path)
    compute, calls = counting(2.0)
    first = cache.get_or_compute("fisher", {"candidate": "a", "rows": "r"}, compute)
    second = cache.get_or_compute("fisher", {"candidate": "a", "rows": "r"}, compute)
    assert len(calls) == 1
    torch.testing.assert_close(first["fisher"], second["fisher"])
    assert not list(tmp_path.glob("*.tmp-*"))  # written through a temporary file + rename


def test_another_key_is_another_entry(tmp_path):
    cache = StatisticsCache(tmp_path)
    compute, calls = counting(1.0)
    cache.get_or_compute("fisher", {"candidate": "a"}, compute)
    cache.get_or_compute("fisher", {"candidate": "b"}, compute)
    assert len(calls) == 2


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.1, 0.5, 0.99, -1])
def test_a_truncated_file_is_recomputed_not_used(tmp_path, keep):
    """A crash mid-write cannot leave a partial file under the entry's name (temp + rename),
    but a file cut short by a full disk or a copy is still detected, wherever it is cut."""
    cache = StatisticsCache(tmp_path)
    key = {"candidate": "a"}
    compute, calls = counting(3.0)
    path = cache.store("fisher", key, {"fisher": torch.arange(4096.0)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1] if keep == -1 else data[: int(len(data) * keep)])
    again = cache.get_or_compute("fisher", key, compute)
    assert len(calls) == 1 and float(again["fisher"][0]) == 3.0
    assert cache.load("fisher", key) is not None  # the recomputed entry replaced it


def test_a_candidate_key_changes_when_its_weights_change(tiny_candidates, tmp_path):
    folder = tmp_path / "cand"
    shutil.copytree(tiny_candidates[0], folder)
    before = candidate_signature(folder)
    weights = load_file(str(folder / "model.safetensors"))
    name = next(iter(weights))
    weights[name] = weights[name] + 1.0
    save_file(weights, str(folder / "model.safetensors"))
    after = candidate_signature(folder)
    assert before["folder"] == after["folder"] and before["sha256"] != after["sha256"]


def test_a_file_whose_stored_key_differs_is_recomputed(tmp_path):
    cache = StatisticsCache(tmp_path)
    compute, calls = counting(1.0)
    path = cache.store("fisher", {"candidate": "old"}, compute())
    path.rename(cache.path("fisher", {"candidate": "new"}))
    cache.get_or_compute("fisher", {"candidate": "new"}, compute)
    assert len(calls) == 2
