"""bomerge.tasks.base: the task registry, the per-head split of dev rows into selection and
report rows, the per-head row cap, and ``Batch.to``."""

from __future__ import annotations

import pytest
import torch

from bomerge.config import TaskConfig
from bomerge.errors import BomergeError
from bomerge.tasks import Task, get_task, task_names
from bomerge.tasks.base import Batch, Example
from bomerge.tasks.cs224n import CS224N
from bomerge.tasks.glue import GLUE_TASKS
from bomerge.tasks.registry import task_for_architecture


def rows(heads: dict[str, int]) -> list[Example]:
    """Synthetic rows, ``n`` per head, interleaved across heads as the files are not."""
    out = []
    for i in range(max(heads.values())):
        for head, n in heads.items():
            if i < n:
                out.append(Example(f"{head} row {i}", None, float(i % 2), head))
    return out


# ---- registry -----------------------------------------------------------------------

def test_every_built_in_task_is_registered_by_name():
    assert {"sst2", "cola", "mrpc", "rte", "stsb", "cs224n", "csv", "multi"} <= set(task_names())
    assert task_names() == sorted(task_names())
    for name in GLUE_TASKS:
        assert get_task(name) is GLUE_TASKS[name]
    assert get_task("cs224n") is CS224N
    # csv and multi are built from their task sections (columns; sub-tasks)
    assert all(isinstance(get_task(name), Task) for name in task_names()
               if name not in ("csv", "multi"))


def test_names_and_aliases_are_case_insensitive_and_a_task_config_works_too():
    assert get_task("SST-2") is get_task("sst") is get_task("sst2")
    assert get_task("STS-B") is get_task("sts") is get_task("stsb")
    assert get_task("CS224N") is CS224N
    assert get_task(TaskConfig(name="Sst-2", max_length=16)).name == "sst2"


def test_an_unknown_task_lists_the_known_ones():
    with pytest.raises(BomergeError) as raised:
        get_task("qnli")
    message = str(raised.value)
    assert message.startswith("unknown task 'qnli' (known tasks: ")
    assert all(name in message for name in task_names())


def test_a_model_architecture_points_to_its_task():
    assert task_for_architecture("MultitaskBert") == "cs224n"
    assert task_for_architecture("BertForMaskedLM") is None


def test_a_task_names_its_heads_and_a_one_head_task_is_its_own_head():
    assert CS224N.heads == ("sst", "quora", "sts")
    assert GLUE_TASKS["mrpc"].heads == ("mrpc",)
    assert not GLUE_TASKS["mrpc"].head_metrics


def test_rows_by_head_keeps_file_order_within_each_head():
    data = rows({"sst": 4, "quora": 3, "sts": 2})
    by_head = CS224N.rows_by_head(data)
    assert list(by_head) == ["sst", "quora", "sts"]
    assert [ex.text_a for ex in by_head["quora"]] == [f"quora row {i}" for i in range(3)]
    sst2 = GLUE_TASKS["sst2"]
    one_head = [Example(f"s{i}", None, 0.0) for i in range(5)]
    assert sst2.rows_by_head(one_head) == {"sst2": one_head}


# ---- selection / report split ---------------------------------------------------------

@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.8])
def test_the_split_is_disjoint_complete_and_deterministic_per_head(fraction):
    sizes = {"sst": 40, "quora": 17, "sts": 9}
    data = rows(sizes)
    selection, report = CS224N.split_selection_report(data, fraction)
    again = CS224N.split_selection_report(data, fraction)
    assert (selection, report) == again
    for head, n in sizes.items():
        chosen = [ex for ex in selection if ex.head == head]
        held = [ex for ex in report if ex.head == head]
        assert len(chosen) == round(fraction * n) and len(chosen) + len(held) == n
        assert not {ex.text_a for ex in chosen} & {ex.text_a for ex in held}
        assert {ex.text_a for ex in chosen} | {ex.text_a for ex in held} == {
            ex.text_a for ex in data if ex.head == head}
    # not simply the first rows of each head: the split is a hash of row positions
    sst_chosen = {ex.text_a for ex in selection if ex.head == "sst"}
    assert sst_chosen != {f"sst row {i}" for i in range(round(fraction * 40))}


def test_a_head_split_does_not_depend_on_the_other_heads_rows():
    alone = CS224N.split_selection_report(rows({"sst": 30}), 0.5)
    mixed = CS224N.split_selection_report(rows({"sst": 30, "quora": 11, "sts": 5}), 0.5)
    assert [ex for ex in mixed[0] if ex.head == "sst"] == alone[0]
    assert [ex for ex in mixed[1] if ex.head == "sst"] == alone[1]


def test_a_one_head_task_splits_all_its_rows_deterministically():
    task = GLUE_TASKS["sst2"]
    data = [Example(f"sentence {i}", None, float(i % 2)) for i in range(101)]
    selection, report = task.split_selection_report(data, 0.3)
    assert len(selection) == 30 and len(report) == 71
    assert sorted(ex.text_a for ex in selection + report) == sorted(ex.text_a for ex in data)
    assert (selection, report) == task.split_selection_report(data, 0.3)
    # rows keep their file order inside each part
    positions = {ex.text_a: i for i, ex in enumerate(data)}
    assert ([positions[ex.text_a] for ex in selection]
            == sorted(positions[ex.text_a] for ex in selection))
    # a different task (prefix) picks different rows from the same positions
    other, _ = GLUE_TASKS["cola"].split_selection_report(data, 0.3)
    assert {ex.text_a for ex in other} != {ex.text_a for ex in selection}


# ---- row cap --------------------------------------------------------------------------

def test_cap_rows_keeps_the_first_rows_of_each_head():
    data = rows({"sst": 10, "quora": 3, "sts": 6})
    capped = CS224N.cap_rows(data, 4)
    by_head = CS224N.rows_by_head(capped)
    assert {g: len(r) for g, r in by_head.items()} == {"sst": 4, "quora": 3, "sts": 4}
    assert [ex.text_a for ex in by_head["sts"]] == [f"sts row {i}" for i in range(4)]
    assert CS224N.cap_rows(data, None) is data
    one_head = [Example(f"s{i}", None, 0.0) for i in range(7)]
    assert GLUE_TASKS["sst2"].cap_rows(one_head, 5) == one_head[:5]
    assert GLUE_TASKS["sst2"].cap_rows(one_head, 50) == one_head


# ---- batches --------------------------------------------------------------------------

def test_batch_to_moves_tensors_but_keeps_order_on_the_host():
    batch = Batch(input_ids=torch.tensor([[2, 5, 3]]),
                  token_type_ids=torch.zeros(1, 3, dtype=torch.long),
                  attention_mask=torch.ones(1, 3, dtype=torch.long), labels=torch.tensor([1]),
                  order=torch.tensor([4]), head="sst2")
    moved = batch.to("cpu")
    assert moved.head == "sst2" and moved.order is batch.order
    assert moved.order.device.type == "cpu"
    assert torch.equal(moved.input_ids, batch.input_ids) and torch.equal(moved.labels, batch.labels)
    if torch.cuda.is_available():
        on_gpu = batch.to("cuda")
        assert on_gpu.input_ids.is_cuda and on_gpu.labels.is_cuda
        assert on_gpu.order.device.type == "cpu"


def test_pair_batches_move_their_second_sentence_too():
    from bomerge.tasks.cs224n.batches import PairBatch

    ids = torch.tensor([[2, 7, 3]])
    batch = PairBatch(input_ids=ids, token_type_ids=torch.zeros_like(ids),
                      attention_mask=torch.ones_like(ids),
                      labels=torch.tensor([1.0]), order=torch.tensor([0]), head="quora",
                      input_ids_b=ids.clone(), token_type_ids_b=torch.zeros_like(ids),
                      attention_mask_b=torch.ones_like(ids))
    moved = batch.to("cpu")
    assert isinstance(moved, PairBatch) and moved.head == "quora"
    assert torch.equal(moved.input_ids_b, ids) and moved.order is batch.order
    single = PairBatch(input_ids=ids, token_type_ids=torch.zeros_like(ids),
                       attention_mask=torch.ones_like(ids),
                       labels=torch.tensor([3]), order=torch.tensor([0]), head="sst")
    assert single.to("cpu").input_ids_b is None
    assert "input_ids_b" not in single.model_inputs() and single.model_inputs()["task"] == "sst"
