"""bomerge.train.groups: round-robin, PCGrad and single-head training of a task with several
heads (the CS224N multitask model), keeping the last k snapshots like any training run;
bomerge.search.config_names refuses these settings for a one-head task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.fileio import read_jsonl
from bomerge.search.config_names import check_names
from bomerge.tasks.cs224n import CS224N
from bomerge.tasks.cs224n.model import MultitaskBert
from bomerge.train.finetune import TRAINING_LOOPS, finetune
from bomerge.train.groups import pcgrad_step, round_robin
from bomerge.train.pcgrad import pcgrad
from bomerge.train.smart import batch_objective
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

    path = tiny_multitask_candidates[-1]
    model = MultitaskBert.from_pretrained(path).eval()  # no dropout: repeatable losses
    rows = CS224N.load_split(DataConfig(root=cs224n_root, hub=False), "train")
    batches = CS224N.batches(rows, load_tokenizer(path), 16, 8, "cpu")
    picked = [next(b for b in batches if b.head == name) for name in ("sst", "quora", "sts")]
    weights = [0.5, 1.0, 1.0]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    total = pcgrad_step(CS224N, model, picked, weights, optimizer,
                        torch.Generator().manual_seed(1), "cpu")

    encoder = [(n, p) for n, p in model.named_parameters() if n.startswith("bert.")]
    task_grads, head_grads, expected_total = [], {}, 0.0
    for batch, weight in zip(picked, weights, strict=False):
        _, loss = batch_objective(CS224N, model, batch, "cpu", None)
        expected_total += weight * float(loss.detach())
        grads = torch.autograd.grad(loss, [p for _, p in model.named_parameters()],
                                    allow_unused=True)
        named = dict(zip([n for n, _ in model.named_parameters()], grads, strict=False))
        task_grads.append(torch.cat([
            (named[n] if named[n] is not None else torch.zeros_like(p)).reshape(-1)
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
    assert total == pytest.approx(expected_total, rel=1e-5)


def test_training_tasks_and_weights_are_checked():
    def train(**kw):
        raw = tiny_multitask_dict(Path("."), Path("."))
        raw["train"].update(kw)
        return parse_config(raw, "test", Path(".")).train

    plan = CS224N.training_plan(train())
    assert (plan.mode, plan.heads, plan.weights) == ("round_robin", ("sst", "quora", "sts"),
                                                     (1.0, 1.0, 1.0))
    plan = CS224N.training_plan(train(mode="single", tasks=["sts"]))
    assert (plan.mode, plan.heads, plan.weights) == ("single", ("sts",), (1.0,))
    plan = CS224N.training_plan(train(mode="pcgrad", tasks=["sts", "sst"], task_weights=[2.0, 0.5]))
    assert (plan.heads, plan.weights) == (("sts", "sst"), (2.0, 0.5))
    with pytest.raises(BomergeError, match="task_weights has 2 values for the 3 sub-tasks"):
        CS224N.training_plan(train(task_weights=[1.0, 2.0]))
    with pytest.raises(BomergeError, match="no sub-task 'qqp'"):
        CS224N.training_plan(train(tasks=["qqp"]))


def test_single_mode_trains_exactly_one_head(cs224n_root, tmp_path):
    raw = tiny_multitask_dict(cs224n_root, tmp_path / "studies", mode="single")
    config = parse_config(raw, "test", tmp_path)
    with pytest.raises(BomergeError, match="'single' trains one sub-task"):
        finetune(config.task, config.train, tmp_path / "run", "cpu", False)


def test_every_training_mode_of_a_task_has_a_loop():
    from bomerge.tasks import get_task, task_names

    for name in task_names():
        if name in ("csv", "multi"):  # built from their sections (columns; sub-tasks)
            continue
        assert set(get_task(name).training_modes) <= set(TRAINING_LOOPS), name
    assert CS224N.training_modes[0] == "round_robin"  # the default mode


def test_a_config_with_an_unknown_sub_task_is_refused_before_training(cs224n_root, tmp_path):
    raw = tiny_multitask_dict(cs224n_root, tmp_path)
    raw["train"]["tasks"] = ["sst", "qqp"]
    with pytest.raises(BomergeError, match=r"^c\.yaml: task 'cs224n' has no sub-task 'qqp'"):
        check_names(parse_config(raw, "c.yaml", Path(".")), "c.yaml")
    raw["train"].update(tasks=None, mode="shuffled")
    with pytest.raises(BomergeError, match=r"train\.mode 'shuffled' is not a training mode of task "
                                           r"'cs224n' \(its modes: round_robin, pcgrad, single\)"):
        check_names(parse_config(raw, "c.yaml", Path(".")), "c.yaml")


def test_several_head_training_keys_are_refused_for_a_one_head_task(glue_root, tmp_path):
    from tests.conftest import tiny_study_dict

    raw = tiny_study_dict(glue_root, tmp_path)
    raw["train"]["mode"] = "pcgrad"
    config = parse_config(raw, "c.yaml", Path("."))  # the structure is fine
    with pytest.raises(BomergeError, match=r"^c\.yaml: train\.mode 'pcgrad' is not a training mode "
                                           r"of task 'sst2' \(its modes: shuffled\)"):
        check_names(config, "c.yaml")
    # finetune refuses it too when called directly, before any work
    with pytest.raises(BomergeError,
                       match=r"train\.mode 'pcgrad' is not a training mode of task 'sst2'"):
        finetune(config.task, config.train, tmp_path / "run", "cpu", False)
    assert not (tmp_path / "run").exists()
    raw["train"]["mode"] = None
    raw["train"]["tasks"] = ["sst2"]
    with pytest.raises(BomergeError, match=r"^c\.yaml: train\.tasks applies to tasks with several "
                                           r"heads \(task 'sst2' has one\)"):
        check_names(parse_config(raw, "c.yaml", Path(".")), "c.yaml")
