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


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_pool_takes_half_the_bytes_and_merges_in_float32(tiny_candidates, dtype):
    """``load(dtype=...)`` stores each candidate value rounded to nearest in the half type:
    the (K, P) matrix takes half the float32 pool's bytes, while everything a merge
    writes or reads as a whole model (the merge buffer, ``row(i)``, ``flatten``, the base)
    stays float32."""
    full = CandidatePool.load(tiny_candidates)
    half = CandidatePool.load(tiny_candidates, dtype=dtype)
    assert half.stacked.dtype == dtype and half.rounded and not full.rounded
    assert half.stacked.shape == full.stacked.shape
    assert 2 * half.stacked.element_size() * half.stacked.numel() == \
        full.stacked.element_size() * full.stacked.numel()
    assert half.compute_dtype == torch.float32
    assert half.empty_merge_buffer().dtype == torch.float32
    assert half.flatten({}).dtype == torch.float32
    state = load_file(str(tiny_candidates[1] / "model.safetensors"))
    assert torch.equal(half.stacked[1], full.stacked[1].to(dtype))
    row = half.row(1)
    assert row.dtype == torch.float32 and torch.equal(row, full.stacked[1].to(dtype).float())
    assert torch.equal(half.unflatten(row)["classifier.weight"],
                       state["classifier.weight"].to(dtype).float())
    # the base is read at full precision: task vectors are off only by θ_i's rounding
    base, known = half.load_base(tiny_candidates[0].parent / "base")
    full_base, _ = full.load_base(tiny_candidates[0].parent / "base")
    assert base.dtype == torch.float32 and torch.equal(base[known], full_base[known])


def test_a_pool_refuses_a_dtype_that_is_not_floating_point(tiny_candidates):
    with pytest.raises(BomergeError, match="floating-point dtype, not torch.int8"):
        CandidatePool.load(tiny_candidates, dtype=torch.int8)


def test_a_float16_pool_refuses_a_weight_beyond_its_range_naming_it(tiny_candidates, tmp_path):
    """float16 holds at most 65504: a weight beyond would become inf, so the load is refused
    (bfloat16 has float32's range and takes it)."""
    odd = _copy_with(tmp_path, tiny_candidates[0],
                     lambda s: s["classifier.bias"].fill_(1e5))
    with pytest.raises(BomergeError, match=r"odd: tensor classifier\.bias exceeds the range of "
                                           r"float16 .*pool_dtype bfloat16 or float32"):
        CandidatePool.load([tiny_candidates[0], odd], dtype=torch.float16)
    assert torch.isfinite(CandidatePool.load([odd], dtype=torch.bfloat16).stacked).all()
