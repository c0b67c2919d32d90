"""bomerge.merge.cache: statistics are reused only when their key matches and the file reads."""

from __future__ import annotations

import torch

from bomerge.merge.cache import StatisticsCache


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


def test_a_truncated_file_is_recomputed_not_used(tmp_path):
    cache = StatisticsCache(tmp_path)
    key = {"candidate": "a"}
    compute, calls = counting(3.0)
    path = cache.store("fisher", key, compute())
    path.write_bytes(path.read_bytes()[:20])
    again = cache.get_or_compute("fisher", key, compute)
    assert len(calls) == 2 and float(again["fisher"][0]) == 3.0


def test_a_file_whose_stored_key_differs_is_recomputed(tmp_path):
    cache = StatisticsCache(tmp_path)
    compute, calls = counting(1.0)
    path = cache.store("fisher", {"candidate": "old"}, compute())
    path.rename(cache.path("fisher", {"candidate": "new"}))
    cache.get_or_compute("fisher", {"candidate": "new"}, compute)
    assert len(calls) == 2
