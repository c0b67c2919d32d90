"""bomerge.multitask.evaluate: each sub-task scored with its own head; the study's loss is
the sum of the sub-tasks' mean losses and its metric the mean of their metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from bomerge.config import DataConfig
from bomerge.models import load_tokenizer
from bomerge.multitask.data import CS224N, by_subtask
from bomerge.multitask.evaluate import MultitaskEvaluator, tokenize_multitask
from bomerge.multitask.model import MultitaskBert
from bomerge.tasks.data import load_split


def test_scores_equal_a_row_by_row_computation(cs224n_root, tiny_multitask_candidates):
    path = tiny_multitask_candidates[-1]
    model = MultitaskBert.from_pretrained(path).eval()
    tokenizer = load_tokenizer(path)
    rows = load_split(CS224N, DataConfig(root=cs224n_root, hub=False), "dev")
    batches = tokenize_multitask(rows, tokenizer, CS224N, 16, 7, "cpu")
    assert {b.task for b in batches} == {"sst", "quora", "sts"}
    result = MultitaskEvaluator(model, batches, CS224N).evaluate(dict(model.named_parameters()))

    expected = {}
    with torch.no_grad():
        for name, examples in by_subtask(rows, CS224N).items():
            outs, labels, losses = [], [], []
            for ex in examples:
                a = tokenizer(ex.text_a, truncation=True, max_length=16, return_tensors="pt")
                kwargs = {"input_ids": a["input_ids"], "attention_mask": a["attention_mask"]}
                if ex.text_b is not None:
                    b = tokenizer(ex.text_b, truncation=True, max_length=16, return_tensors="pt")
                    kwargs.update(input_ids_b=b["input_ids"], attention_mask_b=b["attention_mask"])
                out = model(name, **kwargs)[0]
                if name == "sst":
                    losses.append(float(torch.nn.functional.cross_entropy(out[None], torch.tensor([int(ex.label)]))))
                    outs.append(int(out.argmax()))
                elif name == "quora":
                    losses.append(float(torch.nn.functional.binary_cross_entropy_with_logits(out, torch.tensor(ex.label))))
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
