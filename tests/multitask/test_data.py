"""bomerge.multitask.data: the CS224N files as tagged rows, SST's dev rows carved from its
training file, and clear errors for malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bomerge.config import DataConfig
from bomerge.errors import BomergeError
from bomerge.multitask.data import CS224N, by_subtask, carved_dev_rows
from bomerge.tasks.data import load_split, split_selection_report
from bomerge.tasks.glue import get_task

SHARED_CS224N = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cs224n"


def test_cs224n_is_a_task_with_three_sub_tasks():
    task = get_task("cs224n")
    assert task.is_multitask and task.extra_metrics == ("sst", "quora", "sts")
    assert [s.metric for s in task.subtasks] == ["accuracy", "accuracy", "pearson"]


def test_rows_are_tagged_and_sst_dev_is_carved_from_train_without_overlap(cs224n_root):
    data = DataConfig(root=cs224n_root, hub=False)
    train = by_subtask(load_split(CS224N, data, "train"), CS224N)
    dev = by_subtask(load_split(CS224N, data, "dev"), CS224N)
    assert len(dev["sst"]) == 240 // 8 and len(train["sst"]) == 240 - 240 // 8
    assert not {e.text_a for e in dev["sst"]} & {e.text_a for e in train["sst"]}
    assert len(dev["quora"]) == 120 and all(e.text_b for e in dev["quora"])
    assert {e.task for e in dev["sts"]} == {"sts"} and max(e.label for e in dev["sts"]) <= 5
    assert carved_dev_rows("sst", 240, 1000) == carved_dev_rows("sst", 240, 1000)


def test_selection_and_report_split_each_sub_task(cs224n_root):
    dev = load_split(CS224N, DataConfig(root=cs224n_root, hub=False), "dev")
    selection, report = split_selection_report(dev, CS224N, 0.5)
    for name in ("sst", "quora", "sts"):
        chosen, held = by_subtask(selection, CS224N)[name], by_subtask(report, CS224N)[name]
        assert chosen and held and len(chosen) + len(held) == len(by_subtask(dev, CS224N)[name])
        assert not {id(e) for e in chosen} & {id(e) for e in held}


def test_a_bad_label_names_the_file_and_line(tmp_path, cs224n_root):
    for f in cs224n_root.iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    lines = (tmp_path / "sts-train.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\thigh"
    (tmp_path / "sts-train.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BomergeError, match=r"sts-train.csv, line 4: label 'high' is not numeric"):
        load_split(CS224N, DataConfig(root=tmp_path, hub=False), "train")


def test_a_missing_file_or_column_is_named(tmp_path, cs224n_root):
    with pytest.raises(BomergeError, match="data file not found: .*ids-sst-train.csv"):
        load_split(CS224N, DataConfig(root=tmp_path, hub=False), "train")
    for f in cs224n_root.iterdir():
        (tmp_path / f.name).write_text(f.read_text().replace("is_duplicate", "dup"))
    with pytest.raises(BomergeError, match="quora-train.csv: missing column 'is_duplicate'"):
        load_split(CS224N, DataConfig(root=tmp_path, hub=False), "train")


def test_the_shared_cs224n_files_load_with_a_balanced_sst_dev_set():
    if not (SHARED_CS224N / "ids-sst-train.csv").is_file():
        pytest.skip(f"CS224N data not found at {SHARED_CS224N}")
    dev = by_subtask(load_split(CS224N, DataConfig(root=SHARED_CS224N, hub=False), "dev"), CS224N)
    assert len(dev["sst"]) == 1000 and len({e.label for e in dev["sst"]}) == 5
    assert len(dev["quora"]) == 20212 and len(dev["sts"]) == 714
