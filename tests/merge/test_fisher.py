"""bomerge.merge.fisher and statistics.fisher_diagonal: θ* = Σ λ_i F_i θ_i / Σ λ_i F_i with
per-example Fisher diagonals (Matena & Raffel 2022)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomerge.merge import build_method
from bomerge.merge.fisher import fisher_merge
from bomerge.merge.statistics import StatisticsSource, fisher_diagonal
from bomerge.models import classifier_skeleton, load_tokenizer
from bomerge.pool import CandidatePool
from bomerge.tasks import get_task
from tests.merge.conftest import toy_pool

LAMBDA = np.array([0.5, 0.3, 0.2])


@pytest.fixture()
def pool() -> CandidatePool:
    torch.manual_seed(0)
    return toy_pool({"a.weight": torch.randn(3, 4, 5), "a.bias": torch.randn(3, 5)})


def merged(method, pool, fisher, values):
    state = method.state_from_fisher(pool, fisher)
    return method.combine(state, values, pool.empty_merge_buffer())


def test_equal_fishers_give_the_lambda_weighted_average(pool):
    fisher = torch.rand(pool.num_values, dtype=torch.float64).expand(3, -1).clone()
    out = merged(build_method("fisher"), pool, fisher, {"lambda": LAMBDA})
    expected = (torch.as_tensor(LAMBDA)[:, None] * pool.stacked).sum(0)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_all_zero_fishers_fall_back_to_the_weighted_average_without_nan(pool):
    fisher = torch.zeros_like(pool.stacked)
    out = merged(build_method("fisher"), pool, fisher, {"lambda": LAMBDA})
    assert torch.isfinite(out).all()
    expected = (torch.as_tensor(LAMBDA)[:, None] * pool.stacked).sum(0)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)


def test_general_fishers_follow_the_formula_and_one_hot_lambda_gives_the_candidate(pool):
    fisher = torch.rand_like(pool.stacked) ** 3
    method = build_method("fisher")
    out = merged(method, pool, fisher, {"lambda": LAMBDA})
    torch.testing.assert_close(out, fisher_merge(pool.stacked, fisher, LAMBDA, 1e-8))
    only_second = merged(method, pool, fisher, {"lambda": np.array([0.0, 1.0, 0.0])})
    torch.testing.assert_close(only_second, pool.stacked[1])


def test_a_searched_floor_is_applied_per_trial(pool):
    fisher = torch.rand_like(pool.stacked)
    fisher[:, :4] = 0.0
    method = build_method("fisher", {"search_floor": True})
    assert [v.name for v in method.variables(3)] == ["lambda", "floor"]
    out = merged(method, pool, fisher, {"lambda": LAMBDA, "floor": 1e-3})
    torch.testing.assert_close(out, fisher_merge(pool.stacked, fisher, LAMBDA, 1e-3))


def test_fisher_options_are_validated():
    from bomerge.errors import BomergeError

    with pytest.raises(BomergeError, match="merge.options.estimator"):
        build_method("fisher", {"estimator": "guess"})
    with pytest.raises(BomergeError, match="unknown key 'merge.options.lamda'"):
        build_method("fisher", {"lamda": 1})


# ---- statistics against a slow reference ---------------------------------------------------

def _source(tiny_candidates, tiny_task, task_name="sst2", n=8):
    task = get_task(task_name)
    rows = task.load_split(tiny_task.data, "train")[:n]
    tokenizer = load_tokenizer(tiny_candidates[0])
    batches = task.batches(rows, tokenizer, 24, 5, "cpu")
    skeleton = classifier_skeleton(tiny_candidates[0], attention="eager")
    return StatisticsSource(skeleton, batches, task, "test")


def _reference_fisher(source, params, estimator):
    """One example at a time, one backward pass per class: the definition, slowly."""
    model = source.skeleton
    for name, p in model.named_parameters():
        p.data.copy_(params[name])
    total = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    for batch in source.batches:
        for row in range(len(batch.labels)):
            length = int(batch.attention_mask[row].sum())
            logits = model(input_ids=batch.input_ids[row : row + 1, :length],
                           token_type_ids=batch.token_type_ids[row : row + 1, :length]).logits[0]
            logp = torch.log_softmax(logits, -1)
            for c in range(logp.shape[0]):
                weight = (float(logp[c].detach().exp()) if estimator == "exact"
                          else float(batch.labels[row] == c))
                if weight == 0.0:
                    continue
                grads = torch.autograd.grad(logp[c], list(model.parameters()), retain_graph=True)
                for (name, _), g in zip(model.named_parameters(), grads, strict=True):
                    total[name] += weight * g.square()
    return {name: value / source.n for name, value in total.items()}


@pytest.mark.parametrize("estimator", ["exact", "empirical"])
def test_per_example_fisher_matches_a_slow_reference(tiny_candidates, tiny_task, estimator):
    source = _source(tiny_candidates, tiny_task)
    source.skeleton.double()  # float64 on both sides: the comparison tests the estimator
    pool = CandidatePool.load(tiny_candidates[-1:])
    params = {k: v.double() for k, v in pool.unflatten(pool.stacked[0]).items()}
    fast = fisher_diagonal(source, params, estimator)
    slow = _reference_fisher(source, params, estimator)
    largest = max(float(v.abs().max()) for v in slow.values())
    for name, value in slow.items():
        # Tensors with an identically zero gradient (key biases) are compared to the scale
        # of the whole Fisher, the rest to their own.
        scale = max(float(value.abs().max()), 1e-6 * largest)
        assert float((fast[name] - value).abs().max()) / scale < 1e-5, name


def test_sampled_labels_average_to_the_exact_fisher(tiny_candidates, tiny_task):
    source = _source(tiny_candidates, tiny_task, n=6)
    pool = CandidatePool.load(tiny_candidates[-1:])
    params = pool.unflatten(pool.stacked[0])
    exact = pool.flatten(fisher_diagonal(source, params, "exact"))
    sampled = pool.flatten(fisher_diagonal(source, params, "sampled", samples=4000, seed=1))
    assert torch.linalg.vector_norm(sampled - exact) / torch.linalg.vector_norm(exact) < 0.05


def test_regression_heads_use_a_gaussian_around_the_prediction(tiny_candidates, tiny_task):
    """exact Fisher of N(μ, σ²) is (∂μ/∂θ)² / σ²: σ = 2 gives a quarter of σ = 1."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(str(tiny_candidates[0]), num_labels=1)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(
        config, attn_implementation="eager").eval()
    source = _source(tiny_candidates, tiny_task, n=6)
    source = StatisticsSource(model, source.batches, get_task("stsb"), "test")
    params = {name: p.detach() for name, p in model.named_parameters()}
    one = fisher_diagonal(source, params, "exact", sigma=1.0)
    two = fisher_diagonal(source, params, "exact", sigma=2.0)
    name = "classifier.weight"
    assert one[name].abs().sum() > 0
    torch.testing.assert_close(two[name], one[name] / 4)
