"""bomerge.tasks.cs224n.model: one encoder, three heads (SST logits, Quora logit, STS score in
[0, 5]), a pretrained encoder under ``bert.`` and a Hugging Face round trip."""

from __future__ import annotations

import json

import pytest
import torch

from bomerge.config import TinyModelConfig
from bomerge.errors import BomergeError
from bomerge.models import packaged_minilm_path, train_wordpiece
from bomerge.tasks import get_task
from bomerge.tasks.cs224n import CS224N
from bomerge.tasks.cs224n.model import (
    ARCHITECTURE,
    MultitaskBert,
    new_multitask_model,
    predictions,
    task_loss,
)


def test_heads_have_the_cs224n_shapes_and_the_sts_score_is_a_scaled_clamped_cosine(
    tiny_multitask_candidates
):
    model = MultitaskBert.from_pretrained(tiny_multitask_candidates[-1]).eval()
    ids = torch.tensor([[2, 40, 41, 3], [2, 42, 3, 0]])
    mask = (ids != 0).long()
    assert model("sst", ids, mask).shape == (2, 5)
    assert model("quora", ids, mask, input_ids_b=ids.flip(0),
                 attention_mask_b=mask.flip(0)).shape == (2,)
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
    assert torch.isclose(task_loss("sts", torch.tensor([4.0]), torch.tensor([2.0])),
                         torch.tensor(4.0))
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
    skeleton = CS224N.skeleton(tmp_path)
    assert isinstance(skeleton, MultitaskBert) and not skeleton.training
    assert {n for n, _ in skeleton.named_parameters()} == {n for n, _ in model.named_parameters()}


def test_a_tiny_model_is_seeded_and_saves_as_the_multitask_architecture(tmp_path):
    tokenizer = train_wordpiece(["the good movie", "a dull plot", "the cast was superb"], 60)
    settings = TinyModelConfig(hidden_size=16, num_attention_heads=2, intermediate_size=32)
    one, same = (CS224N.new_tiny_model(tokenizer, settings, 3, None) for _ in range(2))
    assert isinstance(one, MultitaskBert)
    assert all(torch.equal(p, q) for p, q in zip(one.parameters(), same.parameters(), strict=False))
    one.save_pretrained(tmp_path)
    CS224N.check_head(tmp_path)  # its own head passes
    eager = CS224N.skeleton(tmp_path, attention="eager")
    assert eager.config._attn_implementation == "eager"


def test_check_head_refuses_a_classifier_and_points_a_glue_task_to_cs224n(
    tmp_path, tiny_multitask_candidates, tiny_candidates
):
    with pytest.raises(BomergeError, match=r"config.json: head BertForSequenceClassification "
                                           r"is not the multitask model task 'cs224n' needs "
                                           r"\(MultitaskBert"):
        CS224N.check_head(tiny_candidates[-1])
    with pytest.raises(BomergeError, match=r"head MultitaskBert is not supported by task 'sst2' .*"
                                           r"MultitaskBert models are merged with task cs224n"):
        get_task("sst2").check_head(tiny_multitask_candidates[-1])
