"""bomerge.train.finetune: fine-tuning that keeps the last k snapshots, reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bomerge.errors import BomergeError
from bomerge.models import load_tokenizer
from bomerge.train.finetune import finetune


def test_keeps_the_last_k_snapshots_as_model_folders(tiny_task, tiny_train, tmp_path: Path):
    paths = finetune(tiny_task, tiny_train, tmp_path / "run", show_progress=False)
    # 200 rows / 32 = 7 steps, a snapshot every 5 steps -> only step 5 ... keep_last=2
    assert [p.name for p in paths] == ["step-000005"]
    assert (paths[0] / "config.json").is_file() and (paths[0] / "model.safetensors").is_file()
    assert load_tokenizer(paths[0])("the good film")["input_ids"][0] is not None
    manifest = json.loads((tmp_path / "run" / "train.json").read_text())
    assert manifest["train_rows"] == 200


def test_same_seed_same_weights_and_no_retraining(tiny_task, tiny_train, tmp_path: Path):
    train = tiny_train.model_copy(update={"epochs": 2, "save_every": 3})
    first = finetune(tiny_task, train, tmp_path / "a", show_progress=False)
    second = finetune(tiny_task, train, tmp_path / "b", show_progress=False)
    assert [p.name for p in first] == ["step-000009", "step-000012"]  # 14 steps, every 3rd
    for a, b in zip(first, second, strict=True):
        sa, sb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
        assert all(torch.equal(sa[n], sb[n]) for n in sa)
    stamp = first[-1].joinpath("model.safetensors").stat().st_mtime_ns
    assert finetune(tiny_task, train, tmp_path / "a", show_progress=False) == first
    assert first[-1].joinpath("model.safetensors").stat().st_mtime_ns == stamp


def test_refuses_to_mix_runs_with_other_settings(tiny_task, tiny_train, tmp_path: Path):
    finetune(tiny_task, tiny_train, tmp_path / "run", show_progress=False)
    with pytest.raises(BomergeError, match="holds a training run with other settings"):
        finetune(tiny_task, tiny_train.model_copy(update={"seed": 1}), tmp_path / "run",
                 show_progress=False)


def test_runs_with_one_init_seed_share_their_start_point(tiny_task, tiny_train, tmp_path: Path):
    """Soup candidates: other seeds (rows, order, dropout), one fresh head and vocabulary."""
    shared = [tiny_train.model_copy(update={"seed": seed, "init_seed": 7}) for seed in (1, 2)]
    for n, train in enumerate(shared):
        finetune(tiny_task, train, tmp_path / f"s{n}", show_progress=False)
    finetune(tiny_task, tiny_train.model_copy(update={"seed": 1}), tmp_path / "own",
             show_progress=False)
    base = [load_file(str(tmp_path / name / "base" / "model.safetensors"))
            for name in ("s0", "s1", "own")]
    assert all(torch.equal(base[0][n], base[1][n]) for n in base[0])
    assert not all(torch.equal(base[0][n], base[2][n]) for n in base[0])
    ends = [load_file(str(tmp_path / name / "step-000005" / "model.safetensors"))
            for name in ("s0", "s1")]
    assert not all(torch.equal(ends[0][n], ends[1][n]) for n in ends[0])  # trained differently
