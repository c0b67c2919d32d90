"""bomerge.progression: one fixed, stratified order of the selection rows, cut into chunks,
that every trial of a study is scored in."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bomerge.config import DataConfig
from bomerge.errors import BomergeError
from bomerge.models import load_tokenizer
from bomerge.progression import RowPlan, planned_batches
from bomerge.tasks import get_task
from bomerge.tasks.base import Example


def rows_with(labels: list[float], head: str | None = None) -> list[Example]:
    return [Example(f"row {i}", None, label, head) for i, label in enumerate(labels)]


def test_the_order_is_a_seeded_permutation():
    rows = rows_with([0.0, 1.0] * 50)
    plan = RowPlan.stratified(rows, 4, seed=3)
    assert sorted(plan.order) == list(range(100)) and plan.ends == (25, 50, 75, 100)
    assert RowPlan.stratified(rows, 4, seed=3) == plan
    assert RowPlan.stratified(rows, 4, seed=4).order != plan.order


def test_every_chunk_holds_each_label_and_head_in_proportion():
    # 70% / 30% labels on one head, and a second head of 40 rows with three classes
    rows = (rows_with([0.0] * 140 + [1.0] * 60, "a")
            + rows_with([0.0, 1.0, 2.0] * 10 + [2.0] * 10, "b"))
    plan = RowPlan.stratified(rows, 4, seed=0)
    total = Counter((r.head, r.label) for r in rows)
    for c in range(4):
        seen = Counter((rows[i].head, rows[i].label) for i in plan.chunk(c))
        for stratum, count in total.items():
            assert abs(seen[stratum] - count / 4) <= 1, (c, stratum, seen[stratum], count / 4)


def test_a_regression_head_is_stratified_by_label_quintile():
    labels = [i / 10 for i in range(100)]  # 100 distinct scores: quintiles of 20 rows
    plan = RowPlan.stratified(rows_with(labels), 5, seed=0)
    for c in range(5):
        quintiles = Counter(int(labels[i] // 2) for i in plan.chunk(c))
        assert set(quintiles.values()) == {4}  # 4 rows of each quintile per chunk of 20


def test_more_chunks_than_rows_is_refused():
    with pytest.raises(BomergeError, match="chunks 4: must be between 1 and the 3 selection rows"):
        RowPlan.stratified(rows_with([0.0, 1.0, 0.0]), 4, seed=0)


def test_a_recorded_order_is_read_back_and_checked_against_the_rows(tmp_path: Path):
    plan = RowPlan.stratified(rows_with([0.0, 1.0] * 10), 3, seed=1)
    path = tmp_path / "selection_order.json"
    plan.write(path)
    assert RowPlan.read(path, 20) == plan
    with pytest.raises(BomergeError,
                       match=r"selection_order.json: orders 20 rows, but the study has 22"):
        RowPlan.read(path, 22)
    path.write_text("{")
    with pytest.raises(BomergeError, match="selection_order.json: not a selection order"):
        RowPlan.read(path, 20)


def test_batches_follow_the_chunks_and_index_the_original_rows(glue_root, tiny_candidates):
    task = get_task("sst2")
    rows = task.load_split(DataConfig(root=glue_root, hub=False), "dev")
    plan = RowPlan.stratified(rows, 3, seed=0)
    tokenizer = load_tokenizer(tiny_candidates[0])
    batches, ends = planned_batches(task, rows, plan, tokenizer, 24, 16, "cpu")
    assert ends[-1] == len(batches) and len(ends) == 3
    start = 0
    for c, end in enumerate(ends):
        positions = [i for b in batches[start:end] for i in b.order.tolist()]
        assert sorted(positions) == sorted(plan.chunk(c))  # a chunk's batches hold its rows
        for batch in batches[start:end]:  # and each row's own label
            assert batch.labels.tolist() == [int(rows[i].label) for i in batch.order.tolist()]
        start = end
    alone, one = planned_batches(task, rows, None, tokenizer, 24, 16, "cpu")
    assert one == [len(alone)]  # without a plan: the task's one batching, one chunk
