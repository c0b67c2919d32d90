"""bomerge.multitask.model: one encoder, three heads (SST logits, Quora logit, STS score in
[0, 5]), a pretrained encoder under ``bert.`` and a Hugging Face round trip."""

from __future__ import annotations

import json

import torch

from bomerge.models import classifier_skeleton, packaged_minilm_path
from bomerge.multitask.model import ARCHITECTURE, MultitaskBert, new_multitask_model, predictions, task_loss


def test_heads_have_the_cs224n_shapes_and_the_sts_score_is_a_scaled_clamped_cosine(tiny_multitask_candidates):
    model = MultitaskBert.from_pretrained(tiny_multitask_candidates[-1]).eval()
    ids = torch.tensor([[2, 40, 41, 3], [2, 42, 3, 0]])
    mask = (ids != 0).long()
    assert model("sst", ids, mask).shape == (2, 5)
    assert model("quora", ids, mask, input_ids_b=ids.flip(0), attention_mask_b=mask.flip(0)).shape == (2,)
    score = model("sts", ids, mask, input_ids_b=ids.flip(0), attention_mask_b=mask.flip(0))
    u, v = model.embed(ids, mask), model.embed(ids.flip(0), mask.flip(0))
    assert torch.allclose(score, 5 * torch.cosine_similarity(u, v).clamp(0, 1))
    # a sentence with itself: cosine 1, score 5
    same = model("sts", ids, mask, input_ids_b=ids, attention_mask_b=mask)
    assert torch.allclose(same, torch.full((2,), 5.0))


def test_mean_pooling_ignores_padding(tiny_multitask_candidates):
    model = MultitaskBert.from_pretrained(tiny_multitask_candidates[-1]).eval()
    short = model.embed(torch.tensor([[2, 40, 3]]), torch.tensor([[1, 1, 1]]))
    padded = model.embed(torch.tensor([[2, 40, 3, 0, 0]]), torch.tensor([[1, 1, 1, 0, 0]]))
    assert torch.allclose(short, padded, atol=1e-5)


def test_losses_and_predictions_per_head():
    logits = torch.tensor([[0.0, 3.0, 0.0, 0.0, 0.0]])
    assert predictions("sst", logits).tolist() == [1]
    assert predictions("quora", torch.tensor([0.3, -0.2])).tolist() == [1, 0]
    assert torch.isclose(task_loss("sts", torch.tensor([4.0]), torch.tensor([2.0])), torch.tensor(4.0))
    bce = task_loss("quora", torch.tensor([0.0]), torch.tensor([1.0]))
    assert torch.isclose(bce, torch.log(torch.tensor(2.0)))


def test_a_pretrained_encoder_loads_under_bert_and_the_folder_round_trips(tmp_path):
    model = new_multitask_model(str(packaged_minilm_path()))
    from transformers import BertModel

    encoder = BertModel.from_pretrained(str(packaged_minilm_path()), add_pooling_layer=False)
    assert torch.equal(model.bert.encoder.layer[0].attention.self.query.weight,
                       encoder.encoder.layer[0].attention.self.query.weight)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [ARCHITECTURE]
    skeleton = classifier_skeleton(tmp_path)
    assert isinstance(skeleton, MultitaskBert)
    assert {n for n, _ in skeleton.named_parameters()} == {n for n, _ in model.named_parameters()}
