"""bomerge.tasks.cs224n.data and the cs224n task's rows: the CS224N files as rows tagged with
their head (``Example.head``), SST's dev rows carved from its training file, and clear errors for
malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bomerge.config import DataConfig
from bomerge.errors import BomergeError
from bomerge.tasks import get_task
from bomerge.tasks.cs224n import CS224N, Cs224nTask
from bomerge.tasks.cs224n.data import SUBTASKS, carved_dev_rows, subtask

SHARED_CS224N = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cs224n"


def test_cs224n_is_a_task_with_three_heads():
    task = get_task("cs224n")
    assert isinstance(task, Cs224nTask) and task is CS224N
    assert task.heads == ("sst", "quora", "sts") and task.head_metrics == task.heads
    assert task.metric == "average" and task.statistics == {"fisher"}
    assert task.training_modes == ("round_robin", "pcgrad", "single")
    assert [s.metric for s in SUBTASKS] == ["accuracy", "accuracy", "pearson"]
    assert subtask("sts").is_regression and subtask("quora").is_pair and not subtask("sst").is_pair
    with pytest.raises(BomergeError, match="task 'cs224n' has no sub-task 'qqp' "
                                           r"\(known: sst, quora, sts\)"):
        subtask("qqp")


def test_rows_are_tagged_and_sst_dev_is_carved_from_train_without_overlap(cs224n_root):
    data = DataConfig(root=cs224n_root, hub=False)
    train = CS224N.rows_by_head(CS224N.load_split(data, "train"))
    dev = CS224N.rows_by_head(CS224N.load_split(data, "dev"))
    assert len(dev["sst"]) == 240 // 8 and len(train["sst"]) == 240 - 240 // 8
    assert not {e.text_a for e in dev["sst"]} & {e.text_a for e in train["sst"]}
    assert len(dev["quora"]) == 120 and all(e.text_b for e in dev["quora"])
    assert {e.head for e in dev["sts"]} == {"sts"} and max(e.label for e in dev["sts"]) <= 5
    assert carved_dev_rows("sst", 240, 1000) == carved_dev_rows("sst", 240, 1000)


def test_selection_and_report_split_each_sub_task(cs224n_root):
    dev = CS224N.load_split(DataConfig(root=cs224n_root, hub=False), "dev")
    selection, report = CS224N.split_selection_report(dev, 0.5)
    for name in ("sst", "quora", "sts"):
        chosen, held = CS224N.rows_by_head(selection)[name], CS224N.rows_by_head(report)[name]
        assert chosen and held and len(chosen) + len(held) == len(CS224N.rows_by_head(dev)[name])
        assert not {id(e) for e in chosen} & {id(e) for e in held}


def test_a_bad_label_names_the_file_and_line(tmp_path, cs224n_root):
    for f in cs224n_root.iterdir():
        (tmp_path / f.name).write_text(f.read_text())
    lines = (tmp_path / "sts-train.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\thigh"
    (tmp_path / "sts-train.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BomergeError, match=r"sts-train.csv, line 4: label 'high' is not numeric"):
        CS224N.load_split(DataConfig(root=tmp_path, hub=False), "train")


def test_a_missing_file_or_column_is_named(tmp_path, cs224n_root):
    with pytest.raises(BomergeError, match="data file not found: .*ids-sst-train.csv"):
        CS224N.load_split(DataConfig(root=tmp_path, hub=False), "train")
    for f in cs224n_root.iterdir():
        (tmp_path / f.name).write_text(f.read_text().replace("is_duplicate", "dup"))
    with pytest.raises(BomergeError, match="quora-train.csv: missing column 'is_duplicate'"):
        CS224N.load_split(DataConfig(root=tmp_path, hub=False), "train")


def test_the_shared_cs224n_files_load_with_a_balanced_sst_dev_set():
    if not (SHARED_CS224N / "ids-sst-train.csv").is_file():
        pytest.skip(f"CS224N data not found at {SHARED_CS224N}")
    dev = CS224N.rows_by_head(CS224N.load_split(DataConfig(root=SHARED_CS224N, hub=False), "dev"))
    assert len(dev["sst"]) == 1000 and len({e.label for e in dev["sst"]}) == 5
    assert len(dev["quora"]) == 20212 and len(dev["sts"]) == 714
