"""Task ``multi`` (cross-task merging): candidates fine-tuned on different tasks from one base
become one encoder, each task keeps its own head, each task is scored on its own rows, and
its scores are normalised by its own candidate's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.merge import build_method
from bomerge.pool import read_state_dict
from bomerge.search.study.store import StudyStore
from bomerge.search.workbench import Workbench, statistics_rows
from bomerge.tasks import get_task
from tests.conftest import CROSS_TASKS, cross_task_dict


def opened(cross_task_root: Path, candidates: tuple[list[Path], Path], tmp_path: Path,
           **changes) -> Workbench:
    paths, base = candidates
    raw = cross_task_dict(cross_task_root, tmp_path / "studies", paths, base)
    raw.update(changes)
    config = parse_config(raw, "test", tmp_path)
    store = StudyStore(tmp_path / "studies" / config.name)
    store.create(config)
    bench = Workbench(store, config, show_progress=False)
    bench.open()
    return bench


@pytest.fixture(scope="module")
def bench(cross_task_root, tiny_cross_task_candidates, tmp_path_factory) -> Workbench:
    return opened(cross_task_root, tiny_cross_task_candidates, tmp_path_factory.mktemp("multi"))


def test_rows_keep_their_task_and_each_task_its_own_selection_report_split(bench):
    heads = {ex.head for ex in bench.selection_rows}
    assert heads == set(CROSS_TASKS)
    for task in CROSS_TASKS:
        alone = get_task(task)
        rows = alone.load_split(bench.config.task.data, "dev")
        selection, report = alone.split_selection_report(rows, 0.5)
        assert [(r.text_a, r.label) for r in bench.selection_rows if r.head == task] == \
            [(r.text_a, r.label) for r in selection]
        assert sum(r.head == task for r in bench.report_rows) == len(report)


def test_the_merge_is_one_encoder_of_the_formula_and_every_tasks_own_head(bench,
                                                                         tiny_cross_task_candidates):
    paths, _ = tiny_cross_task_candidates
    states = [read_state_dict(p) for p in paths]
    w = np.array([0.5, 0.3, 0.2])
    merged = bench.merge(build_method("weights"), {"w": w})
    name = "bert.encoder.layer.0.attention.self.query.weight"
    expected = sum(float(wi) * s[name] for wi, s in zip(w, states, strict=True))
    torch.testing.assert_close(merged[name], expected, rtol=1e-6, atol=1e-6)
    for task, state in zip(CROSS_TASKS, states, strict=True):
        # unmerged: bit for bit the candidate's own head, whatever the weights
        assert torch.equal(merged[f"heads.{task}.classifier.weight"], state["classifier.weight"])
    assert merged["heads.stsb.classifier.weight"].shape[0] == 1  # a regression head
    assert "classifier.weight" not in bench.pool.names


def test_a_one_hot_merge_scores_its_task_like_the_candidate_alone(bench):
    from bomerge.scoring import score_model

    paths, task = bench.paths[0], "sst2"
    merged = bench.evaluate(build_method("weights"), {"w": np.eye(3)[0]})
    rows = [r for r in bench.selection_rows if r.head == task]
    alone = score_model(paths, get_task(task), rows, 24, 64, torch.device("cpu"))
    assert merged.extra[task] == alone.metric
    assert merged.extra[f"{task}_loss"] == pytest.approx(alone.loss, rel=1e-6)


def test_scores_are_normalised_by_each_tasks_individual_model(bench):
    individual = bench.individual(bench.selection)
    assert individual.metric == pytest.approx(1.0)
    references = bench.references("selection", bench.selection)
    assert references == {t: individual.extra[t] for t in CROSS_TASKS}
    assert (bench.store.directory / "references.json").is_file()
    result = bench.evaluate(build_method("weights"), {"w": np.full(3, 1 / 3)})
    for task in CROSS_TASKS:
        assert result.extra[f"{task}_normalised"] == pytest.approx(
            result.extra[task] / references[task])
    assert result.metric == pytest.approx(
        np.mean([result.extra[f"{t}_normalised"] for t in CROSS_TASKS]))
    assert result.extra["absolute"] == pytest.approx(
        np.mean([result.extra[t] for t in CROSS_TASKS]))
    assert result.loss == pytest.approx(np.mean([result.extra[f"{t}_loss"] for t in CROSS_TASKS]))


def test_each_candidates_statistics_come_from_its_own_tasks_rows(bench):
    rows = statistics_rows(bench.config, bench.task)
    per_task = {t: sum(r.head == t for r in rows) for t in CROSS_TASKS}
    assert per_task == dict.fromkeys(CROSS_TASKS, 64)  # a sample per task, not of the union
    source = bench.statistics()
    for i, task in enumerate(CROSS_TASKS):
        own = source.for_candidate(i)
        assert {b.head for b in own.batches} == {task}
        assert own.n == 64 and own.fingerprint != source.fingerprint


def test_fisher_of_a_candidate_weights_only_what_its_own_task_reaches(bench):
    state = bench.prepared(build_method("fisher"))
    # The task-vector merge runs over the encoder only; every candidate's Fisher is positive
    # somewhere in it (its own rows reach every encoder layer).
    assert state.fisher.shape == (3, bench.pool.num_values)
    assert bool((state.fisher.sum(dim=1) > 0).all())


def test_exported_folders_are_one_classifier_per_task(bench):
    merged = bench.merge(build_method("weights"), {"w": np.array([0.2, 0.5, 0.3])})
    models = bench.task.exported_models(merged, bench.paths, bench.owners, bench.pool.dtypes)
    assert set(models) == set(CROSS_TASKS)
    stsb, folder = models["stsb"]
    assert folder == bench.paths[1] and stsb.config.num_labels == 1
    assert torch.equal(stsb.classifier.weight, merged["heads.stsb.classifier.weight"])
    assert torch.equal(stsb.bert.pooler.dense.weight, merged["bert.pooler.dense.weight"])


@pytest.mark.parametrize(("tasks", "message"), [
    (["sst2", "stsb"], "names 2 tasks for 3 candidates"),
    (["sst2", "stsb", "cola"], "is given task 'cola', which is not in task.tasks"),
    (["sst2", "stsb", "stsb"], "task 'stsb' has 2 candidates"),
    (["stsb", "sst2", "rte"], "the head has 2 outputs, task 'stsb' needs 1"),
])
def test_candidates_that_do_not_match_their_tasks_are_refused(tiny_cross_task_candidates, tasks,
                                                              message):
    paths, _ = tiny_cross_task_candidates
    with pytest.raises(BomergeError, match=message):
        get_task(_multi()).check_candidates(paths, tasks)


def test_candidates_from_another_base_are_refused(cross_task_root, tiny_cross_task_candidates,
                                                 tiny_candidates, tmp_path):
    paths, _ = tiny_cross_task_candidates
    other = tmp_path / "other-base"
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(123)  # an unrelated initialisation of the same architecture
    BertModel(BertConfig.from_pretrained(paths[0])).save_pretrained(other)
    AutoTokenizer.from_pretrained(paths[0]).save_pretrained(other)
    with pytest.raises(BomergeError, match="was not fine-tuned from candidates.base"):
        opened(cross_task_root, (paths, other), tmp_path)


def _multi(tasks=CROSS_TASKS):
    from bomerge.config import TaskConfig

    return TaskConfig(name="multi", tasks=list(tasks))


@pytest.mark.parametrize(("tasks", "message"), [
    (None, "task 'multi' needs task.tasks"),
    (["sst2"], "needs at least two tasks"),
    (["sst2", "sst-2"], "'sst2' is listed twice"),
    (["sst2", "cs224n"], "'cs224n' is not a one-head task"),
])
def test_bad_task_lists_are_refused(tasks, message):
    from bomerge.config import TaskConfig

    with pytest.raises(BomergeError, match=message):
        get_task(TaskConfig(name="multi", tasks=tasks))


def test_a_users_csv_task_is_a_sub_task_with_its_own_section(glue_root, tmp_path):
    from bomerge.config import TaskConfig

    for split in ("train", "dev"):
        (tmp_path / f"{split}.csv").write_text("text,label\ngood film,pos\nbad film,neg\n")
    csv_section = {"name": "csv", "max_length": 16, "data": {
        "train": str(tmp_path / "train.csv"), "dev": str(tmp_path / "dev.csv"),
        "text_columns": ["text"], "label_column": "label", "labels": ["neg", "pos"],
        "metric": "accuracy"}}
    task = get_task(TaskConfig(name="multi", data={"root": glue_root, "hub": False},
                               tasks=["sst2", csv_section]))
    assert task.heads == ("sst2", "csv")
    rows = task.load_split(task.members[0].config.data, "dev")
    assert [r.label for r in rows if r.head == "csv"] == [1.0, 0.0]
    assert task.member("csv").config.max_length == 16
    assert task.member("sst2").config.data.root == glue_root  # a name takes the section's data


def test_a_task_without_rows_in_a_part_is_named(glue_root, tmp_path):
    from bomerge.config import TaskConfig
    from bomerge.search.workbench import evaluation_rows

    (tmp_path / "dev.csv").write_text("text,label\ngood film,pos\n")  # one row: one part
    csv_section = {"name": "csv", "data": {
        "train": str(tmp_path / "dev.csv"), "dev": str(tmp_path / "dev.csv"),
        "text_columns": ["text"], "label_column": "label", "labels": ["neg", "pos"],
        "metric": "accuracy"}}
    section = TaskConfig(name="multi", data={"root": glue_root, "hub": False},
                         tasks=["sst2", csv_section])
    config = parse_config({"name": "x", "task": section.model_dump(mode="json")}, "test", tmp_path)
    with pytest.raises(BomergeError, match="split of 'multi/csv' has 1 rows"):
        evaluation_rows(config, get_task(config.task))


def test_a_sub_task_section_inherits_every_key_of_the_task_section_it_does_not_set(glue_root):
    from bomerge.config import TaskConfig

    task = get_task(TaskConfig(name="multi", max_length=48, data={"root": glue_root, "hub": False},
                               eval={"batch_size": 8}, tasks=[{"name": "sst2", "max_length": 64}]
                               + ["stsb"]))
    sst2 = task.member("sst2").config
    assert sst2.max_length == 64  # its own
    assert sst2.data.root == glue_root and sst2.data.hub is False  # inherited
    assert sst2.eval.batch_size == 8
    assert task.member("stsb").config.max_length == 48
    assert len(task.member("sst2").task.load_split(sst2.data, "dev")) > 0


def test_missing_task_data_names_the_file_it_looked_for_before_the_hub(tmp_path, monkeypatch):
    from bomerge.config import TaskConfig

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    task = get_task(TaskConfig(name="multi", data={"root": tmp_path, "hub": True},
                               tasks=[{"name": "sst2", "max_length": 64}, "rte"]))
    with pytest.raises(BomergeError, match=f"data file not found: {tmp_path}/SST-2/dev.tsv, "
                                           "and the datasets hub failed"):
        task.member("sst2").task.load_split(task.member("sst2").config.data, "dev")


@pytest.mark.parametrize("name", ["dare_task_arithmetic", "dare_ties", "wudi", "tsv"])
@pytest.mark.parametrize("granularity", ["model", "block"])
def test_the_data_free_methods_merge_the_encoder_and_keep_every_head(bench, name, granularity,
                                                                      tiny_cross_task_candidates):
    from bomerge.merge.blockwise import blockwise
    from bomerge.merge.groups import encoder_layer_count, group_names

    paths, _ = tiny_cross_task_candidates
    options = {"steps": 5} if name == "wudi" else {}
    inner = build_method(name, options)
    groups = group_names(granularity, 2 if granularity == "block" else None,
                         encoder_layer_count(paths[0]))
    method = blockwise(inner, groups)
    values = method.defaults(3)
    merged = bench.merge(method, values)
    for task, path in zip(CROSS_TASKS, paths, strict=True):
        assert torch.equal(merged[f"heads.{task}.classifier.weight"],
                           read_state_dict(path)["classifier.weight"])
    # the encoder is the base plus the method's update: it moved off every candidate
    name_q = "bert.encoder.layer.0.attention.self.query.weight"
    assert all(not torch.equal(merged[name_q], read_state_dict(p)[name_q]) for p in paths)
    result = bench.evaluate(method, values)
    assert np.isfinite(result.loss) and set(CROSS_TASKS) <= set(result.extra)


def test_inherited_keys_survive_the_studys_stored_config(glue_root, tmp_path):
    from bomerge.config import dump_config, load_config

    raw = {"name": "x", "task": {"name": "multi", "max_length": 48,
                                 "data": {"root": str(glue_root), "hub": False},
                                 "tasks": [{"name": "sst2", "max_length": 64}, "rte"]}}
    config = parse_config(raw, "x.yaml", tmp_path)
    stored = tmp_path / "config.yaml"
    stored.write_text(dump_config(config))
    again = load_config(stored).task.tasks[0]
    assert (again.max_length, again.data.root, again.data.hub) == (64, glue_root, False)
    assert len(get_task(load_config(stored).task).member("sst2").task.load_split(again.data, "dev"))
