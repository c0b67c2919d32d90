"""bomerge.merge.task_arithmetic, ties and localize_stitch on hand-built task vectors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomerge.errors import BomergeError
from bomerge.merge import build_method
from bomerge.merge.base import PrepareContext
from bomerge.merge.localize_stitch import stitch
from bomerge.merge.ties import ties_merge_vectors, top_fraction_thresholds
from tests.merge.conftest import toy_pool

BASE = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
TAUS = torch.tensor(
    [[3.0, -1.0, 2.0, 0.5],
     [-1.0, -2.5, 2.0, -4.0],
     [-1.5, 1.0, -0.5, 0.0]],
    dtype=torch.float64,
)


def context_for(taus: torch.Tensor, base: torch.Tensor, name: str = "w") -> PrepareContext:
    pool = toy_pool({name: base + taus})
    return PrepareContext(pool=pool, base=base.clone(),
                          base_known=torch.ones(len(base), dtype=torch.bool))


def combine(method_name: str, context: PrepareContext, values: dict, **options) -> torch.Tensor:
    method = build_method(method_name, options)
    return method.combine(method.prepare(context), values, context.pool.empty_merge_buffer())


def test_task_arithmetic_adds_the_scaled_sum_of_task_vectors():
    out = combine("task_arithmetic", context_for(TAUS, BASE), {"lambda": 0.3})
    torch.testing.assert_close(out, BASE + 0.3 * TAUS.sum(0))


def test_task_arithmetic_per_candidate_scales():
    out = combine("task_arithmetic", context_for(TAUS, BASE),
                  {"lambda_0": 0.1, "lambda_1": 0.0, "lambda_2": 1.0}, per_candidate=True)
    torch.testing.assert_close(out, BASE + 0.1 * TAUS[0] + TAUS[2])


def test_task_vector_methods_refuse_to_run_without_a_base():
    pool = toy_pool({"w": BASE + TAUS})
    for name in ("task_arithmetic", "ties", "localize_stitch"):
        with pytest.raises(BomergeError, match="needs a base model: set candidates.base"):
            build_method(name).prepare(PrepareContext(pool=pool))


def test_ties_without_trimming_elects_signs_by_mass_and_averages_agreeing_entries():
    # Σ τ = [0.5, -2.5, 3.5, -3.5] → signs [+, -, +, -]; entry 0 keeps only 3.0,
    # entry 1 averages -1.0 and -2.5, entry 2 averages 2.0 and 2.0, entry 3 keeps -4.0
    # (0.5 disagrees).
    merged = ties_merge_vectors(TAUS, torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(merged, torch.tensor([3.0, -1.75, 2.0, -4.0], dtype=torch.float64))


def test_ties_trims_each_task_vector_to_its_top_magnitudes_first():
    # density 0.5 keeps 2 of 4 per row: [3, 0, 2, 0], [0, -2.5, 0, -4], [-1.5, 1, 0, 0];
    # Σ = [1.5, -1.5, 2, -4] → keep 3, -2.5, 2, -4.
    thresholds = top_fraction_thresholds(TAUS.abs(), 0.5)
    torch.testing.assert_close(thresholds, torch.tensor([2.0, 2.5, 1.0], dtype=torch.float64))
    out = combine("ties", context_for(TAUS, BASE), {"density": 0.5, "lambda": 0.5})
    torch.testing.assert_close(
        out, BASE + 0.5 * torch.tensor([3.0, -2.5, 2.0, -4.0], dtype=torch.float64))


def test_ties_averages_entries_the_base_does_not_supply():
    context = context_for(TAUS, BASE)
    context.base_known = torch.tensor([True, True, True, False])
    out = combine("ties", context, {"density": 1.0, "lambda": 1.0})
    torch.testing.assert_close(out[3], context.pool.stacked[:, 3].mean())


def test_stitch_reproduces_disjoint_masks_exactly_and_averages_overlaps():
    masks = torch.tensor([[True, True, False, False], [False, False, True, False]])
    out = stitch(TAUS[:2], masks)
    torch.testing.assert_close(out, torch.tensor([3.0, -1.0, 2.0, 0.0], dtype=torch.float64))
    overlap = torch.tensor([[True, False, True, False], [False, False, True, True]])
    torch.testing.assert_close(stitch(TAUS[:2], overlap),
                               torch.tensor([3.0, 0.0, 2.0, -4.0], dtype=torch.float64))


def test_localize_stitch_data_free_masks_keep_each_candidates_top_entries_in_the_encoder():
    # Candidate 0 is large on entries 0-1, candidate 1 on 2-3 of an encoder tensor: at
    # sparsity 0.25 (2 of 8 entries each) the masks are disjoint, so each task vector comes
    # back exactly where its mask is set. The head tensor is plainly averaged.
    encoder = torch.zeros(2, 8, dtype=torch.float64)
    encoder[0, :2] = torch.tensor([5.0, -4.0])
    encoder[1, 2:4] = torch.tensor([3.0, 6.0])
    encoder[:, 4:] = 0.01
    head = torch.tensor([[1.0, 2.0], [3.0, 6.0]], dtype=torch.float64)
    pool = toy_pool({"bert.encoder.layer.0.output.dense.weight": encoder,
                     "classifier.weight": head})
    base = torch.zeros(pool.num_values, dtype=torch.float64)
    context = PrepareContext(pool=pool, base=base,
                             base_known=torch.ones(pool.num_values, dtype=torch.bool))
    out = combine("localize_stitch", context, {"sparsity": 0.25})
    expected_encoder = torch.tensor([5.0, -4.0, 3.0, 6.0, 0, 0, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(out[:8], expected_encoder)
    torch.testing.assert_close(out[8:], torch.tensor([2.0, 4.0], dtype=torch.float64))


def test_learned_masks_score_only_encoder_entries(tiny_candidates, tiny_task):
    from bomerge.merge.statistics import StatisticsSource
    from bomerge.models import classifier_skeleton, load_tokenizer
    from bomerge.pool import CandidatePool
    from bomerge.tasks import get_task

    task = get_task("sst2")
    rows = task.load_split(tiny_task.data, "train")[:32]
    batches = task.batches(rows, load_tokenizer(tiny_candidates[0]), 24, 16, "cpu")
    pool = CandidatePool.load(tiny_candidates[:2])
    base, known = pool.load_base(tiny_candidates[0].parent / "base")
    context = PrepareContext(pool=pool, base=base, base_known=known,
                             statistics=StatisticsSource(classifier_skeleton(tiny_candidates[0]),
                                                         batches, task, "rows"))
    method = build_method("localize_stitch", {"mask": "learned", "steps": 4})
    assert method.uses_data()
    state = method.prepare(context)
    assert state.scores is not None and state.scores.shape == pool.stacked.shape
    assert float(state.scores[:, ~state.eligible].abs().max()) == 0.0
    assert 0.0 <= float(state.scores.min()) and float(state.scores.max()) <= 1.0
    out = method.combine(state, {"sparsity": 0.05}, pool.empty_merge_buffer())
    assert torch.isfinite(out).all()


def test_density_and_sparsity_outside_zero_one_are_refused():
    with pytest.raises(BomergeError, match="density"):
        combine("ties", context_for(TAUS, BASE), {"density": 0.0, "lambda": 1.0})
    with pytest.raises(BomergeError, match="merge.options.density"):
        build_method("ties", {"density": 2})
    assert np.isclose(build_method("ties").defaults(3)["density"], 0.2)
