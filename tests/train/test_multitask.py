"""bomerge.train.multitask: round-robin, PCGrad and single-task training of the CS224N
multitask model, keeping the last k snapshots like any training run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.fileio import read_jsonl
from bomerge.multitask.data import CS224N
from bomerge.multitask.model import MultitaskBert
from bomerge.train.finetune import finetune
from bomerge.train.multitask import pcgrad_step, round_robin, training_tasks
from bomerge.train.pcgrad import pcgrad
from tests.conftest import tiny_multitask_dict


def test_round_robin_takes_each_task_in_turn_until_every_one_is_spent():
    order = list(round_robin([iter("aaa"), iter("b"), iter("cc")]))
    assert order == ["a", "b", "c", "a", "c", "a"]


def test_pcgrad_training_keeps_the_last_snapshots_and_logs_the_run(cs224n_root, tmp_path):
    raw = tiny_multitask_dict(cs224n_root, tmp_path, mode="pcgrad")
    raw["train"].update(task_weights=[0.5, 1.0, 1.0], epochs=1, save_every=4, keep_last=2)
    config = parse_config(raw, "test", Path("."))
    log = tmp_path / "training.jsonl"
    paths = finetune(config.task, config.train, tmp_path / "run", "cpu", False, log)
    manifest = json.loads((tmp_path / "run" / "train.json").read_text())
    # pcgrad: an epoch is as many steps as the largest sub-task has batches (240 Quora rows / 16)
    assert [c["step"] for c in manifest["checkpoints"]] == [8, 12]
    assert [p.name for p in paths] == ["step-000008", "step-000012"]
    assert manifest["settings"]["train"]["mode"] == "pcgrad"
    assert isinstance(MultitaskBert.from_pretrained(paths[-1]), MultitaskBert)
    assert len(read_jsonl(log)) == 1
    # a finished run is reused, not retrained
    assert finetune(config.task, config.train, tmp_path / "run", "cpu", False, log) == paths
    assert len(read_jsonl(log)) == 1


def test_multitask_runs_with_one_init_seed_share_their_start_point(cs224n_root, tmp_path):
    from safetensors.torch import load_file

    raw = tiny_multitask_dict(cs224n_root, tmp_path, mode="single")
    raw["train"].update(tasks=["sts"], epochs=1, save_every="epoch", keep_last=1)
    bases = []
    for seed in (1, 2):
        raw["train"].update(seed=seed, init_seed=5)
        config = parse_config(raw, "test", Path("."))
        finetune(config.task, config.train, tmp_path / f"s{seed}", "cpu", False)
        bases.append(load_file(str(tmp_path / f"s{seed}" / "base" / "model.safetensors")))
    assert all(torch.equal(bases[0][n], bases[1][n]) for n in bases[0])


def test_a_pcgrad_step_sets_the_encoder_gradient_to_the_surgery_and_heads_to_their_own(
        cs224n_root, tiny_multitask_candidates):
    from bomerge.config import DataConfig
    from bomerge.models import load_tokenizer
    from bomerge.multitask.evaluate import tokenize_multitask
    from bomerge.tasks.data import load_split
    from bomerge.train.multitask import _batch_loss

    path = tiny_multitask_candidates[-1]
    model = MultitaskBert.from_pretrained(path).eval()  # no dropout: repeatable losses
    rows = load_split(CS224N, DataConfig(root=cs224n_root, hub=False), "train")
    batches = tokenize_multitask(rows, load_tokenizer(path), CS224N, 16, 8, "cpu")
    picked = [next(b for b in batches if b.task == name) for name in ("sst", "quora", "sts")]
    weights = [0.5, 1.0, 1.0]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    pcgrad_step(model, picked, weights, optimizer, torch.Generator().manual_seed(1), "cpu")

    encoder = [(n, p) for n, p in model.named_parameters() if n.startswith("bert.")]
    task_grads, head_grads = [], {}
    for batch, weight in zip(picked, weights):
        grads = torch.autograd.grad(_batch_loss(model, batch, "cpu"), [p for _, p in model.named_parameters()],
                                    allow_unused=True)
        named = dict(zip([n for n, _ in model.named_parameters()], grads))
        task_grads.append(torch.cat([(named[n] if named[n] is not None else torch.zeros_like(p)).reshape(-1)
                                     for n, p in encoder]))
        for n, g in named.items():
            if not n.startswith("bert.") and g is not None:
                head_grads[n] = head_grads.get(n, 0) + weight * g
    expected = pcgrad(task_grads, weights, torch.Generator().manual_seed(1))
    actual = torch.cat([p.grad.reshape(-1) for _, p in encoder])
    assert torch.allclose(actual, expected, atol=1e-6)
    for n, p in model.named_parameters():
        if not n.startswith("bert."):
            assert torch.allclose(p.grad, head_grads[n], atol=1e-7), n


def test_training_tasks_and_weights_are_checked():
    def train(**kw):
        raw = tiny_multitask_dict(Path("."), Path("."))
        raw["train"].update(kw)
        return parse_config(raw, "test", Path(".")).train

    assert training_tasks(CS224N, train()) == (["sst", "quora", "sts"], [1.0, 1.0, 1.0])
    assert training_tasks(CS224N, train(mode="single", tasks=["sts"])) == (["sts"], [1.0])
    with pytest.raises(BomergeError, match="'single' trains one sub-task"):
        training_tasks(CS224N, train(mode="single"))
    with pytest.raises(BomergeError, match="task_weights has 2 values for the 3 sub-tasks"):
        training_tasks(CS224N, train(task_weights=[1.0, 2.0]))
    with pytest.raises(BomergeError, match="no sub-task 'qqp'"):
        training_tasks(CS224N, train(tasks=["qqp"]))


def test_multitask_training_keys_are_refused_for_a_glue_task(glue_root, tmp_path):
    from tests.conftest import tiny_study_dict

    raw = tiny_study_dict(glue_root, tmp_path)
    raw["train"]["mode"] = "pcgrad"
    with pytest.raises(BomergeError, match="train.mode applies to the multitask task cs224n only"):
        parse_config(raw, "c.yaml", Path("."))
