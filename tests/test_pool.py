"""bomerge.pool: K checkpoints of one architecture, stacked once as (K, P)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from bomerge.errors import BomergeError
from bomerge.pool import CandidatePool


def test_stacks_every_float_tensor_once(tiny_candidates: list[Path]):
    pool = CandidatePool.load(tiny_candidates)
    state = load_file(str(tiny_candidates[1] / "model.safetensors"))
    assert pool.k == 3
    assert pool.num_values == sum(t.numel() for t in state.values() if t.is_floating_point())
    for name, tensor in state.items():
        assert torch.equal(pool.parameter(name)[1], tensor)
    views = pool.unflatten(pool.stacked[2])
    assert all(torch.equal(views[n], load_file(str(tiny_candidates[2] / "model.safetensors"))[n])
               for n in state)


def _copy_with(tmp_path: Path, source: Path, change) -> Path:
    target = tmp_path / "odd"
    shutil.copytree(source, target)
    state = load_file(str(target / "model.safetensors"))
    change(state)
    save_file(state, str(target / "model.safetensors"))
    return target


def test_refuses_shape_mismatch_naming_the_tensor(tiny_candidates, tmp_path):
    odd = _copy_with(tmp_path, tiny_candidates[0],
                     lambda s: s.update({"classifier.bias": torch.zeros(3)}))
    with pytest.raises(BomergeError, match=r"odd does not match .*shape mismatch classifier\.bias"):
        CandidatePool.load([tiny_candidates[0], odd])


def test_refuses_missing_tensor_naming_it(tiny_candidates, tmp_path):
    odd = _copy_with(tmp_path, tiny_candidates[0], lambda s: s.pop("classifier.weight"))
    with pytest.raises(BomergeError, match=r"missing tensors classifier\.weight"):
        CandidatePool.load([tiny_candidates[0], odd])


def test_missing_folder_and_truncated_weights(tiny_candidates, tmp_path):
    with pytest.raises(BomergeError, match="checkpoint folder not found: .*nowhere"):
        CandidatePool.load([tmp_path / "nowhere"])
    broken = tmp_path / "broken"
    shutil.copytree(tiny_candidates[0], broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(BomergeError, match="broken: cannot read the weights"):
        CandidatePool.load([broken])
