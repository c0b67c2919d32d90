"""bomerge.evaluate: deterministic (loss, metric) for any parameters, batches resident."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomerge.config import DataConfig
from bomerge.evaluate import Evaluator
from bomerge.merge import get_method
from bomerge.models import classifier_skeleton, load_classifier, load_tokenizer
from bomerge.pool import CandidatePool
from bomerge.tasks import get_task


@pytest.fixture(scope="module")
def setup(tiny_candidates, glue_root):
    task = get_task("sst2")
    rows = task.load_split(DataConfig(root=glue_root, hub=False), "dev")
    batches = task.batches(rows, load_tokenizer(tiny_candidates[0]), 24, 16, "cpu")
    return task, rows, Evaluator(classifier_skeleton(tiny_candidates[0]), batches, task)


def test_batches_are_sorted_by_length_and_padded_to_their_own_longest(setup):
    _, rows, evaluator = setup
    widths = [b.input_ids.shape[1] for b in evaluator.batches]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert (sorted(torch.cat([b.order for b in evaluator.batches]).tolist())
            == list(range(len(rows))))


def test_one_hot_merge_scores_exactly_like_the_candidate_itself(setup, tiny_candidates):
    """Merged with weights e_i, the study sees candidate i's own dev loss and metric."""
    task, rows, evaluator = setup
    pool = CandidatePool.load(tiny_candidates)
    method, buffer = get_method("weights"), pool.empty_merge_buffer()
    for i, path in enumerate(tiny_candidates):
        merged = evaluator.evaluate(
            pool.unflatten(method.combine(pool, {"w": np.eye(3)[i]}, buffer)))
        own = load_classifier(path, task.num_labels)
        alone = evaluator.evaluate(dict(own.named_parameters()))
        assert (merged.loss, merged.metric) == (alone.loss, alone.metric)


def test_scores_match_a_plain_forward_pass(setup, tiny_candidates):
    task, rows, evaluator = setup
    model = load_classifier(tiny_candidates[-1], task.num_labels).eval()
    tokenizer = load_tokenizer(tiny_candidates[-1])
    enc = tokenizer([r.text_a for r in rows], padding=True, truncation=True, max_length=24,
                    return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    labels = torch.tensor([int(r.label) for r in rows])
    expected_loss = torch.nn.functional.cross_entropy(logits, labels).item()
    expected_acc = (logits.argmax(-1) == labels).float().mean().item()
    result = evaluator.evaluate(dict(model.named_parameters()))
    assert result.loss == pytest.approx(expected_loss, rel=1e-4)
    assert result.metric == pytest.approx(expected_acc)


def test_same_parameters_same_result(setup, tiny_candidates):
    _, _, evaluator = setup
    params = dict(load_classifier(tiny_candidates[0], 2).named_parameters())
    assert evaluator.evaluate(params) == evaluator.evaluate(params)


def test_precision_switch_auto_is_float32_off_cuda_and_bf16_stays_close(setup, tiny_candidates):
    task, _, evaluator = setup
    params = dict(load_classifier(tiny_candidates[0], 2).named_parameters())
    fp32 = Evaluator(evaluator.model, evaluator.batches, task, "fp32").evaluate(params)
    assert Evaluator(evaluator.model, evaluator.batches, task, "auto").autocast is None
    assert evaluator.evaluate(params) == fp32  # auto on CPU: exactly float32
    bf16_evaluator = Evaluator(evaluator.model, evaluator.batches, task, "bf16")
    assert bf16_evaluator.autocast is torch.bfloat16
    bf16 = bf16_evaluator.evaluate(params)
    assert bf16.loss == pytest.approx(fp32.loss, rel=0.05) and bf16.loss != fp32.loss


def test_a_chunked_pass_scores_each_chunk_as_its_rows_alone_and_ends_with_the_full_result(
        tiny_candidates, glue_root):
    """After chunk c the running result is exactly the result of the rows of chunks 0..c
    evaluated on their own; after the last, the result of the whole pass; a decision that
    stops the pass returns the running result of the rows seen."""
    from bomerge.progression import RowPlan, planned_batches

    task = get_task("sst2")
    rows = task.load_split(DataConfig(root=glue_root, hub=False), "dev")
    tokenizer, skeleton = (load_tokenizer(tiny_candidates[0]),
                           classifier_skeleton(tiny_candidates[0]))
    plan = RowPlan.stratified(rows, 4, seed=0)
    batches, ends = planned_batches(task, rows, plan, tokenizer, 24, 16, "cpu")
    evaluator = Evaluator(skeleton, batches, task, chunk_ends=ends)
    parameters = dict(load_classifier(tiny_candidates[1], task.num_labels).named_parameters())
    running = []
    full = evaluator.evaluate(parameters, lambda result: bool(running.append(result)))
    assert [r.n for r in running] == list(plan.ends[:-1]) and full.n == len(rows)
    assert (full.loss, full.metric) == (evaluator.evaluate(parameters).loss,
                                        evaluator.evaluate(parameters).metric)
    seen = [rows[i] for i in plan.order[:plan.ends[1]]]
    first_two, _ = planned_batches(task, seen,
                                   RowPlan(tuple(range(len(seen))), (plan.ends[0], len(seen))),
                                   tokenizer, 24, 16, "cpu")
    alone = Evaluator(skeleton, first_two, task).evaluate(parameters)
    assert (running[1].loss, running[1].metric) == pytest.approx((alone.loss, alone.metric),
                                                                 abs=1e-12)
    stopped = evaluator.evaluate(parameters, lambda result: result.n >= plan.ends[1])
    assert (stopped.n == plan.ends[1]
            and (stopped.loss, stopped.metric) == (running[1].loss, running[1].metric))
