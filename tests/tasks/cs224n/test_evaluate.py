"""bomerge.evaluate.Evaluator with the cs224n task (bomerge.tasks.cs224n.task and .batches):
each sub-task scored with its own head; the study's loss is the sum of the sub-tasks' mean
losses and its metric the mean of their metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from bomerge.config import DataConfig
from bomerge.evaluate import Evaluator
from bomerge.models import load_tokenizer
from bomerge.tasks.cs224n import CS224N
from bomerge.tasks.cs224n.batches import PairBatch, pair_batches
from bomerge.tasks.cs224n.model import MultitaskBert


def test_scores_equal_a_row_by_row_computation(cs224n_root, tiny_multitask_candidates):
    path = tiny_multitask_candidates[-1]
    model = MultitaskBert.from_pretrained(path).eval()
    tokenizer = load_tokenizer(path)
    rows = CS224N.load_split(DataConfig(root=cs224n_root, hub=False), "dev")
    batches = CS224N.batches(rows, tokenizer, 16, 7, "cpu")
    assert all(isinstance(b, PairBatch) for b in batches)
    assert {b.head for b in batches} == {"sst", "quora", "sts"}
    assert all((b.input_ids_b is None) == (b.head == "sst") for b in batches)
    result = Evaluator(model, batches, CS224N).evaluate(dict(model.named_parameters()))

    expected = {}
    with torch.no_grad():
        for name, examples in CS224N.rows_by_head(rows).items():
            outs, labels, losses = [], [], []
            for ex in examples:
                a = tokenizer(ex.text_a, truncation=True, max_length=16, return_tensors="pt")
                kwargs = {"input_ids": a["input_ids"], "attention_mask": a["attention_mask"]}
                if ex.text_b is not None:
                    b = tokenizer(ex.text_b, truncation=True, max_length=16, return_tensors="pt")
                    kwargs.update(input_ids_b=b["input_ids"], attention_mask_b=b["attention_mask"])
                out = model(name, **kwargs)[0]
                if name == "sst":
                    losses.append(float(torch.nn.functional.cross_entropy(
                        out[None], torch.tensor([int(ex.label)]))))
                    outs.append(int(out.argmax()))
                elif name == "quora":
                    losses.append(float(torch.nn.functional.binary_cross_entropy_with_logits(
                        out, torch.tensor(ex.label))))
                    outs.append(int(out > 0))
                else:
                    losses.append(float((out - ex.label) ** 2))
                    outs.append(float(out))
                labels.append(ex.label)
            outs, labels = np.array(outs, dtype=float), np.array(labels)
            metric = stats.pearsonr(outs, labels)[0] if name == "sts" else np.mean(outs == labels)
            expected[name] = (float(metric), float(np.mean(losses)))
    for name, (metric, loss) in expected.items():
        assert result.extra[name] == pytest.approx(metric, abs=1e-6)
        assert result.extra[f"{name}_loss"] == pytest.approx(loss, rel=1e-4)
    assert result.metric == pytest.approx(np.mean([m for m, _ in expected.values()]))
    assert result.loss == pytest.approx(sum(loss for _, loss in expected.values()), rel=1e-4)
    assert result.n == len(rows)


def test_pair_batches_cover_every_row_once_and_pad_each_batch_to_its_longest(
        cs224n_root, tiny_multitask_candidates):
    tokenizer = load_tokenizer(tiny_multitask_candidates[-1])
    rows = CS224N.load_split(DataConfig(root=cs224n_root, hub=False), "dev")
    batches = pair_batches(rows, tokenizer, 16, 7, "cpu")
    assert sorted(torch.cat([b.order for b in batches]).tolist()) == list(range(len(rows)))
    for batch in batches:
        assert {rows[i].head for i in batch.order.tolist()} == {batch.head}
        assert batch.labels.dtype == (torch.long if batch.head == "sst" else torch.float32)
        masks = [batch.attention_mask] + ([batch.attention_mask_b]
                                          if batch.input_ids_b is not None else [])
        assert all(int(m.sum(dim=1).max()) == m.shape[1] for m in masks)


def test_scores_of_a_subset_of_the_heads_average_only_those(cs224n_root, tiny_multitask_candidates):
    path = tiny_multitask_candidates[-1]
    model = MultitaskBert.from_pretrained(path).eval()
    rows = [ex for ex in CS224N.load_split(DataConfig(root=cs224n_root, hub=False), "dev")
            if ex.head != "quora"]
    batches = CS224N.batches(rows, load_tokenizer(path), 16, 8, "cpu")
    result = Evaluator(model, batches, CS224N).evaluate(dict(model.named_parameters()))
    assert "quora" not in result.extra and {"sst", "sts"} <= set(result.extra)
    assert result.metric == pytest.approx((result.extra["sst"] + result.extra["sts"]) / 2)
    assert result.loss == pytest.approx(result.extra["sst_loss"] + result.extra["sts_loss"])
