"""bomerge.train.smart: SMART regularisation (Jiang et al., ACL 2020) of fine-tuning, the
objective L(θ) + λ_s·R_s(θ) + μ·D(θ, θ̃), in one-head training and in every mode of a task
with several heads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import BertConfig, BertForSequenceClassification

from bomerge.config import TaskConfig, parse_config
from bomerge.config.training import SmartConfig
from bomerge.errors import BomergeError
from bomerge.tasks import get_task
from bomerge.tasks.base import Batch
from bomerge.tasks.cs224n import CS224N
from bomerge.tasks.cs224n.batches import PairBatch
from bomerge.tasks.cs224n.model import MultitaskBert
from bomerge.train.finetune import finetune
from bomerge.train.groups import pcgrad_step
from bomerge.train.pcgrad import pcgrad
from bomerge.train.smart import (
    BERNOULLI,
    CATEGORICAL,
    SQUARED,
    Smart,
    divergence,
    output_kind,
)
from bomerge.train.snapshots import run_settings
from tests.conftest import tiny_multitask_dict, tiny_study_dict

SST2 = get_task(TaskConfig(name="sst2"))


def tiny_config(**extra: object) -> BertConfig:
    return BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=32, **extra)


def classifier_and_batch() -> tuple[nn.Module, Batch]:
    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_config(num_labels=2))
    ids = torch.randint(5, 60, (4, 10))
    return model, Batch(ids, torch.zeros_like(ids), torch.ones_like(ids),
                        torch.tensor([0, 1, 0, 1]), torch.arange(4), "sst2")


def pair_model_and_batch(head: str) -> tuple[nn.Module, PairBatch]:
    """A tiny bi-encoder with three heads and a batch of sentence pairs (the second
    sentences padded), so each forward embeds two sentences."""
    torch.manual_seed(0)
    model = MultitaskBert(tiny_config())
    a, b = torch.randint(5, 60, (4, 9)), torch.randint(5, 60, (4, 7))
    mask_b = torch.ones_like(b)
    mask_b[0, 5:] = 0
    labels = (torch.tensor([1.0, 0.0, 1.0, 0.0]) if head == "quora"
              else torch.tensor([0.5, 2.0, 4.0, 3.0]))
    return model, PairBatch(a, torch.zeros_like(a), torch.ones_like(a), labels, torch.arange(4),
                            head, b, torch.zeros_like(b), mask_b)


def snapshot(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)


# ---- 1. weight 0, proximal 0: plain training, bit for bit ------------------------------
def test_with_zero_weights_one_head_training_equals_plain_training_bit_for_bit(
        tiny_task, tiny_train, tmp_path):
    plain = finetune(tiny_task, tiny_train, tmp_path / "plain", show_progress=False)
    off = tiny_train.model_copy(update={"smart": SmartConfig(weight=0.0, proximal=0.0)})
    smart = finetune(tiny_task, off, tmp_path / "smart", show_progress=False)
    assert [p.name for p in smart] == [p.name for p in plain] == ["step-000005"]
    assert identical(snapshot(plain[0]), snapshot(smart[0]))


def test_with_zero_weights_pcgrad_training_equals_plain_training_bit_for_bit(cs224n_root, tmp_path):
    raw = tiny_multitask_dict(cs224n_root, tmp_path, mode="pcgrad")
    raw["train"].update(max_train_examples=48, epochs=1, save_every=3, keep_last=1)
    plain = parse_config(raw, "test", Path("."))
    raw["train"]["smart"] = {"weight": 0, "proximal": 0}
    off = parse_config(raw, "test", Path("."))
    first = finetune(plain.task, plain.train, tmp_path / "plain", "cpu", False)
    second = finetune(off.task, off.train, tmp_path / "smart", "cpu", False)
    assert [p.name for p in first] == [p.name for p in second] == ["step-000003"]
    assert identical(snapshot(first[0]), snapshot(second[0]))


def test_a_pcgrad_step_takes_each_heads_gradient_of_its_loss_with_its_smart_terms():
    model = pair_model_and_batch("quora")[0].eval()  # no dropout: δ's draws are the only noise
    batches = [pair_model_and_batch(head)[1] for head in ("quora", "sts")]
    first = batches[0]
    batches.insert(0, PairBatch(first.input_ids, first.token_type_ids, first.attention_mask,
                                torch.tensor([0, 4, 2, 1]), first.order, "sst"))
    weights = [0.5, 1.0, 1.0]
    smart = Smart(SmartConfig(weight=5.0, epsilon=1e-2), CS224N, model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    torch.manual_seed(1)
    total = pcgrad_step(CS224N, model, batches, weights, optimizer,
                        torch.Generator().manual_seed(1), "cpu", smart)
    actual = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    torch.manual_seed(1)  # the same draws of δ, head after head
    named = list(model.named_parameters())
    encoder = [(n, p) for n, p in named if n.startswith("bert.")]
    task_grads, head_grads, logged = [], {}, 0.0
    for batch, weight in zip(batches, weights, strict=False):
        outputs = CS224N.forward(model, None, batch)
        loss = CS224N.loss(batch, outputs)
        logged += weight * float(loss.detach())
        grads = dict(zip([n for n, _ in named], torch.autograd.grad(
            smart.objective(batch, outputs, loss), [p for _, p in named], allow_unused=True),
            strict=False))
        task_grads.append(torch.cat([(grads[n] if grads[n] is not None else torch.zeros_like(p))
                                     .reshape(-1) for n, p in encoder]))
        for n, g in grads.items():
            if not n.startswith("bert.") and g is not None:
                head_grads[n] = head_grads.get(n, 0) + weight * g
    expected = pcgrad(task_grads, weights, torch.Generator().manual_seed(1))
    torch.testing.assert_close(torch.cat([actual[n].reshape(-1) for n, _ in encoder]), expected)
    for n, g in head_grads.items():
        torch.testing.assert_close(actual[n], g)
    assert total == pytest.approx(logged, rel=1e-6)  # the logged loss is the heads' own

    torch.manual_seed(1)
    pcgrad_step(CS224N, model, batches, weights, optimizer, torch.Generator().manual_seed(1), "cpu")
    assert not torch.equal(model.sentiment.weight.grad,
                           actual["sentiment.weight"])  # SMART moved it


# ---- 2. the ascent step ascends -------------------------------------------------------
@pytest.mark.parametrize("head", ["sst2", "quora", "sts"])
def test_the_ascent_step_increases_the_divergence_it_maximises(head):
    """With the paper's ε = 1e-5 the change is measurable in float32: ℓ_s goes from about
    1e-12 (the random start, δ ~ N(0, σ²)) to about 1e-10. Eval mode: no dropout, so the
    batch's clean outputs are fixed and only δ moves ℓ_s."""
    model, batch = classifier_and_batch() if head == "sst2" else pair_model_and_batch(head)
    task = SST2 if head == "sst2" else CS224N
    model.eval()
    smart = Smart(SmartConfig(proximal=0.0), task, model)
    clean = task.forward(model, None, batch)
    target, kind = clean.detach(), smart.kind(batch, clean)
    start: list[torch.Tensor] = []
    with torch.no_grad():
        before = divergence(kind, smart.perturbed(batch, start), target)
    assert len(start) == (1 if head == "sst2" else 2)  # one δ per sentence embedded
    stepped = smart.ascend(batch, target, start, kind)
    with torch.no_grad():
        after = divergence(kind, smart.perturbed(batch, stepped), target)
    assert after > before > 0
    assert all(float(d.abs().max()) <= 1e-5 for d in stepped)  # projected onto the ε-ball
    assert [d.shape for d in stepped] == [d.shape for d in start]


def test_the_hook_leaves_the_model_unperturbed_outside_smart_and_after_close():
    model, batch = classifier_and_batch()
    model.eval()
    before = SST2.forward(model, None, batch)
    smart = Smart(SmartConfig(epsilon=1e-2, proximal=0.0), SST2, model)
    assert torch.equal(SST2.forward(model, None, batch), before)
    assert not torch.equal(smart.perturbed(batch, []), before)
    smart.close()
    assert not model.get_input_embeddings()._forward_hooks


# ---- 3. ℓ_s ---------------------------------------------------------------------------
def test_the_symmetric_kl_of_a_hand_case_equals_its_formula():
    # p = (1/2, 1/2), q = (3/4, 1/4): (p − q)·(log p − log q) summed = ¼·log 3
    p, q = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])
    assert float(divergence(CATEGORICAL, p, q)) == pytest.approx(0.25 * math.log(3.0), rel=1e-6)
    assert float(divergence(CATEGORICAL, q, p)) == pytest.approx(0.25 * math.log(3.0), rel=1e-6)
    # a second row identical in both: the batch mean halves it
    two = divergence(CATEGORICAL, torch.cat([p, p]), torch.cat([q, p]))
    assert float(two) == pytest.approx(0.125 * math.log(3.0), rel=1e-6)
    # one logit z ↦ Bernoulli(σ(z)): z = 0 and z = log 3 are the same two distributions
    bern = divergence(BERNOULLI, torch.tensor([0.0]), torch.tensor([math.log(3.0)]))
    assert float(bern) == pytest.approx(0.25 * math.log(3.0), rel=1e-6)
    assert float(divergence(CATEGORICAL, q, q)) == 0.0


def test_the_regression_divergence_is_the_mean_squared_error():
    a, b = torch.tensor([[1.0], [2.0]]), torch.tensor([0.0, 4.0])
    assert float(divergence(SQUARED, a, b)) == pytest.approx((1.0 + 4.0) / 2)


def test_each_head_gets_the_divergence_of_its_own_outputs():
    model, batch = classifier_and_batch()
    assert output_kind(SST2, batch, SST2.forward(model, None, batch)) == CATEGORICAL
    stsb = get_task(TaskConfig(name="stsb"))
    regression = BertForSequenceClassification(tiny_config(num_labels=1))
    assert output_kind(stsb, batch, stsb.forward(regression, None, batch)) == SQUARED
    for head, kind in (("quora", BERNOULLI), ("sts", SQUARED)):
        pair, pairs = pair_model_and_batch(head)
        assert output_kind(CS224N, pairs, CS224N.forward(pair, None, pairs)) == kind
    single = PairBatch(batch.input_ids, batch.token_type_ids, batch.attention_mask,
                       batch.labels, batch.order, "sst")
    assert output_kind(CS224N, single, CS224N.forward(pair, None, single)) == CATEGORICAL


# ---- 4. the momentum copy θ̃ -----------------------------------------------------------
def test_the_momentum_copy_follows_its_formula_after_a_step():
    model, batch = classifier_and_batch()
    smart = Smart(SmartConfig(momentum=0.9), SST2, model)
    theta_0 = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    outputs = SST2.forward(model, None, batch)
    smart.objective(batch, outputs, SST2.loss(batch, outputs)).backward()
    optimizer.step()
    smart.after_step()
    trailing = dict(smart.momentum_copy.named_parameters())
    for name, theta_1 in model.named_parameters():
        if name != "bert.embeddings.token_type_embeddings.weight":  # only row 0 is used
            assert not torch.equal(theta_1, theta_0[name]), name
        torch.testing.assert_close(trailing[name], 0.1 * theta_1.detach() + 0.9 * theta_0[name])
        assert not trailing[name].requires_grad


def test_the_proximal_term_is_zero_at_the_start_without_dropout_and_pulls_back_after():
    model, batch = classifier_and_batch()
    model.eval()
    smart = Smart(SmartConfig(weight=0.0), SST2, model)
    outputs = SST2.forward(model, None, batch)
    kind = smart.kind(batch, outputs)
    with torch.no_grad():
        assert float(smart.proximity(batch, outputs, kind)) == 0.0  # θ̃ = θ_0 = θ
        model.classifier.weight.add_(0.5)
        assert float(smart.proximity(batch, SST2.forward(model, None, batch), kind)) > 0.0


# ---- 5. end to end, settings and bad input -----------------------------------------
def test_a_smart_one_head_run_trains_end_to_end_with_finite_losses(tiny_task, tiny_train, tmp_path):
    train = tiny_train.model_copy(update={"smart": SmartConfig()})
    paths = finetune(tiny_task, train, tmp_path / "run", show_progress=False)
    manifest = json.loads((tmp_path / "run" / "train.json").read_text())
    assert manifest["settings"]["train"]["smart"] == SmartConfig().model_dump(mode="json")
    assert all(math.isfinite(c["train_loss"]) for c in manifest["checkpoints"])
    plain = finetune(tiny_task, tiny_train, tmp_path / "plain", show_progress=False)
    assert not identical(snapshot(paths[-1]), snapshot(plain[-1]))  # the terms did something
    assert all(torch.isfinite(t).all() for t in snapshot(paths[-1]).values())


@pytest.mark.parametrize("mode", ["pcgrad", "round_robin"])
def test_a_smart_run_over_several_heads_trains_end_to_end_with_finite_losses(
        cs224n_root, tmp_path, mode):
    raw = tiny_multitask_dict(cs224n_root, tmp_path, mode=mode)
    raw["train"].update(max_train_examples=32, epochs=1, save_every=2, keep_last=1,
                        task_weights=[0.5, 1.0, 1.0], smart={"weight": 3.0})
    config = parse_config(raw, "test", Path("."))
    paths = finetune(config.task, config.train, tmp_path / "run", "cpu", False)
    manifest = json.loads((tmp_path / "run" / "train.json").read_text())
    assert manifest["settings"]["train"]["smart"]["weight"] == 3.0
    assert all(math.isfinite(c["train_loss"]) for c in manifest["checkpoints"])
    assert all(torch.isfinite(t).all() for t in snapshot(paths[-1]).values())


def test_smart_is_part_of_a_runs_identity_only_when_set(tiny_task, tiny_train, tmp_path):
    assert "smart" not in run_settings(tiny_task, tiny_train)["train"]  # runs recorded before match
    with_smart = tiny_train.model_copy(update={"smart": SmartConfig()})
    assert run_settings(tiny_task, with_smart)["train"]["smart"]["momentum"] == 0.99
    finetune(tiny_task, tiny_train, tmp_path / "run", show_progress=False)
    with pytest.raises(BomergeError, match="holds a training run with other settings"):
        finetune(tiny_task, with_smart, tmp_path / "run", show_progress=False)


def test_the_paper_defaults():
    assert SmartConfig().model_dump() == {"weight": 1.0, "epsilon": 1e-5, "sigma": 1e-5,
                                          "step_size": 1e-3, "steps": 1, "momentum": 0.99,
                                          "proximal": 1.0}


@pytest.mark.parametrize(("key", "value"), [
    ("weight", -1.0), ("proximal", -0.5), ("epsilon", 0.0), ("sigma", -1e-5), ("step_size", 0.0),
    ("steps", 0), ("momentum", 1.0), ("momentum", -0.1),
])
def test_bad_smart_settings_are_refused_naming_the_key(glue_root, tmp_path, key, value):
    raw = tiny_study_dict(glue_root, tmp_path)
    raw["train"]["smart"] = {key: value}
    with pytest.raises(BomergeError) as error:
        parse_config(raw, "c.yaml", Path("."))
    message = str(error.value)
    assert message.startswith(f"c.yaml: key 'train.smart.{key}'") and "\n" not in message


def test_a_model_without_word_embeddings_is_refused_naming_its_class():
    with pytest.raises(BomergeError, match=r"^train\.smart .*model Linear has no word-embeddings"):
        Smart(SmartConfig(), SST2, nn.Linear(4, 2))


def test_a_model_without_word_embeddings_is_refused_before_any_step(
        tiny_task, tiny_train, tmp_path, monkeypatch):
    def missing(self: nn.Module) -> nn.Module:
        raise NotImplementedError

    monkeypatch.setattr(BertForSequenceClassification, "get_input_embeddings", missing)
    train = tiny_train.model_copy(update={"smart": SmartConfig()})
    with pytest.raises(BomergeError,
                       match="model BertForSequenceClassification has no word-embeddings"):
        finetune(tiny_task, train, tmp_path / "run", show_progress=False)
    assert (not list((tmp_path / "run").glob("step-*"))
            and not (tmp_path / "run" / "train.json").exists())
