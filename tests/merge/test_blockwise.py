"""bomerge.merge.groups and bomerge.merge.blockwise: parameters grouped by the model's module
structure (embeddings, blocks of encoder layers, head) for BERT, RoBERTa, DistilBERT and the
multitask model; a block-wise merge equals its formula group by group, and a model-level
point lifted into the block space merges exactly as the model-level method does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    RobertaConfig,
    RobertaForSequenceClassification,
)

from bomerge.errors import BomergeError
from bomerge.merge import build_method
from bomerge.merge.base import MergeMethod, PrepareContext
from bomerge.merge.blockwise import Blockwise, BlockwiseState, blockwise
from bomerge.merge.groups import (
    block_of_layer,
    encoder_layer_count,
    group_names,
    parameter_groups,
)
from bomerge.pool import CandidatePool
from bomerge.tasks.cs224n.model import ARCHITECTURE, MultitaskBert

SMALL = {"hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16,
         "vocab_size": 40, "max_position_embeddings": 24}


def bert(layers: int = 4) -> torch.nn.Module:
    return BertForSequenceClassification(BertConfig(num_hidden_layers=layers, **SMALL))


def roberta() -> torch.nn.Module:
    return RobertaForSequenceClassification(RobertaConfig(
        num_hidden_layers=3, pad_token_id=1, **{**SMALL, "max_position_embeddings": 30}))


def distilbert() -> torch.nn.Module:
    return DistilBertForSequenceClassification(DistilBertConfig(
        n_layers=3, dim=8, n_heads=2, hidden_dim=16, vocab_size=40, max_position_embeddings=24))


def multitask() -> torch.nn.Module:
    config = BertConfig(num_hidden_layers=3, **SMALL)
    config.architectures = [ARCHITECTURE]
    return MultitaskBert(config)


def saved_pool(make, tmp_path: Path, k: int = 3) -> tuple[torch.nn.Module, CandidatePool]:
    paths = []
    for i in range(k):
        torch.manual_seed(i)
        model = make()
        model.save_pretrained(tmp_path / f"c{i}")
        paths.append(tmp_path / f"c{i}")
    return make(), CandidatePool.load(paths)


def test_blocks_are_contiguous_and_differ_in_size_by_at_most_one():
    for layers in range(1, 13):
        for blocks in range(1, layers + 1):
            owner = [block_of_layer(i, layers, blocks) for i in range(layers)]
            assert owner == sorted(owner) and set(owner) == set(range(blocks))
            sizes = np.bincount(owner)
            assert sizes.max() - sizes.min() <= 1


def test_group_names_and_their_bad_settings():
    assert group_names("model", None, 6) == ("model",)
    assert group_names("block", 2, 6) == ("embeddings", "block0", "block1", "head")
    assert group_names("layer", None, 3) == ("embeddings", "layer0", "layer1", "layer2", "head")
    with pytest.raises(BomergeError, match="merge.blocks: 7 blocks for an encoder of 6 layers"):
        group_names("block", 7, 6)
    with pytest.raises(BomergeError, match="merge.blocks: 0 blocks"):
        group_names("block", 0, 6)
    with pytest.raises(BomergeError, match="granularity 'block' needs merge.blocks"):
        group_names("block", None, 6)


@pytest.mark.parametrize("make, layers, embedding, head", [
    (bert, 4, "bert.embeddings.word_embeddings.weight", "classifier.weight"),
    (roberta, 3, "roberta.embeddings.word_embeddings.weight", "classifier.out_proj.weight"),
    (distilbert, 3, "distilbert.embeddings.word_embeddings.weight", "classifier.weight"),
    (multitask, 3, "bert.embeddings.word_embeddings.weight", "sentiment.weight"),
])
def test_groups_follow_the_module_structure(make, layers, embedding, head, tmp_path):
    model, pool = saved_pool(make, tmp_path, k=2)
    assert encoder_layer_count(tmp_path / "c0") == layers
    names = group_names("layer", None, layers)
    groups = parameter_groups(model, pool, names)
    assert groups.names[groups.group_of(embedding)] == "embeddings"
    assert groups.names[groups.group_of(head)] == "head"
    for slot in pool.slots:
        for i in range(layers):
            if f"layer.{i}." in slot.name:
                assert groups.names[groups.group_of(slot.name)] == f"layer{i}", slot.name
    covered = sorted((r.start, r.stop) for runs in groups.ranges for r in runs)
    assert covered[0][0] == 0 and covered[-1][1] == pool.num_values
    # a partition, no gaps
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:], strict=False))


def _prepared(method, model, pool, base=None):
    context = PrepareContext(
        pool=pool, model=model, base=base,
        base_known=None if base is None else torch.ones_like(base, dtype=torch.bool))
    return method.prepare(context)


def test_block_weights_merge_each_group_with_its_own_weights(tmp_path):
    model, pool = saved_pool(bert, tmp_path)
    names = group_names("block", 2, 4)
    method = blockwise(build_method("weights"), names)
    assert [v.name for v in method.variables(3)] == [f"{g}__w" for g in names]
    rng = np.random.default_rng(0)
    values = {f"{g}__w": rng.dirichlet(np.ones(3)) for g in names}
    state = _prepared(method, model, pool)
    merged = method.combine(state, values, pool.empty_merge_buffer())
    groups = state.groups
    for slot in pool.slots:
        w = torch.as_tensor(values[f"{names[groups.group_of(slot.name)]}__w"],
                            dtype=pool.stacked.dtype)
        part = slice(slot.offset, slot.offset + slot.numel)
        expected = (w[:, None] * pool.stacked[:, part]).sum(0)
        torch.testing.assert_close(merged[part], expected)


@pytest.mark.parametrize("name, options, needs_base", [
    ("weights", {}, False), ("task_arithmetic", {}, True),
    ("task_arithmetic", {"per_candidate": True}, True),
    ("ties", {}, True), ("fisher", {}, False),
])
def test_a_lifted_model_point_merges_exactly_as_the_model_level_method(name, options, needs_base,
                                                                        tmp_path):
    model, pool = saved_pool(bert, tmp_path)
    inner = build_method(name, options)
    method = Blockwise(inner, group_names("layer", None, 4))
    base = pool.stacked.mean(0) * 0.9 if needs_base else None
    point = inner.defaults(3)
    if name == "fisher":  # no statistics rows here: a made-up diagonal Fisher
        inner_state = inner.state_from_fisher(pool, torch.rand_like(pool.stacked))
        state = BlockwiseState(inner_state, parameter_groups(model, pool, method.groups), 3)
    else:
        inner_state, state = (_prepared(inner, model, pool, base),
                              _prepared(method, model, pool, base))
    model_level = inner.combine(inner_state, point, pool.empty_merge_buffer())
    lifted = method.combine(state, method.lift(point, 3), pool.empty_merge_buffer())
    assert torch.equal(model_level, lifted)
    # the generic fallback (one whole combine per group) agrees with the streamed pass
    fallback = MergeMethod.combine_groups(inner, state.inner,
                                          method.split(method.lift(point, 3), 3),
                                          state.groups, pool.empty_merge_buffer())
    assert torch.equal(fallback, lifted)


def test_fisher_blocks_weight_each_group_by_its_own_lambda(tmp_path):
    from bomerge.merge.fisher import fisher_merge

    model, pool = saved_pool(bert, tmp_path)
    names = group_names("block", 2, 4)
    inner = build_method("fisher")
    method = Blockwise(inner, names)
    fisher = torch.rand_like(pool.stacked)
    inner_state = inner.state_from_fisher(pool, fisher)
    groups = parameter_groups(model, pool, names)
    rng = np.random.default_rng(1)
    values = {f"{g}__lambda": rng.dirichlet(np.ones(3)) for g in names}
    merged = method.combine(BlockwiseState(inner_state, groups, 3), values,
                            pool.empty_merge_buffer())
    for slot in pool.slots:
        lam = values[f"{names[groups.group_of(slot.name)]}__lambda"]
        part = slice(slot.offset, slot.offset + slot.numel)
        expected = fisher_merge(pool.stacked[:, part], fisher[:, part], lam, inner.options.floor)
        torch.testing.assert_close(merged[part], expected)


def test_a_method_without_group_coefficients_has_no_block_form():
    with pytest.raises(BomergeError, match="'localize_stitch' has no per-group coefficients"):
        blockwise(build_method("localize_stitch"), group_names("block", 2, 4))
    assert blockwise(build_method("localize_stitch"), ("model",)).name == "localize_stitch"
