"""bomerge.tasks.glue and the Task row rules: reading GLUE files, the hub-compatible dev rule,
selection/report."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from bomerge.config import DataConfig
from bomerge.errors import BomergeError
from bomerge.tasks import get_task
from bomerge.tasks.glue import glue_dev_rows


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_each_glue_layout(tmp_path: Path):
    sst = get_task("sst2").read_file(write(tmp_path / "a.tsv",
                                           'sentence\tlabel\nit \'s "fine"\t1\n'))
    assert sst[0].text_a == 'it \'s "fine"' and sst[0].text_b is None and sst[0].label == 1.0
    cola = get_task("cola").read_file(write(tmp_path / "b.tsv", "src\t0\t*\tBad sentence.\n"))
    assert cola[0].text_a == "Bad sentence." and cola[0].label == 0.0
    mrpc = get_task("mrpc").read_file(write(tmp_path / "c.tsv",
                                            "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                                            "1\t1\t2\tA\tB\n"))
    assert (mrpc[0].text_a, mrpc[0].text_b, mrpc[0].label) == ("A", "B", 1.0)
    rte = get_task("rte").read_file(write(tmp_path / "d.tsv",
                                          "index\tsentence1\tsentence2\tlabel\n"
                                          "0\tP\tH\tnot_entailment\n"))
    assert rte[0].label == 1.0
    sts = get_task("stsb").read_file(write(tmp_path / "e.tsv",
                                           "sentence1\tsentence2\tscore\nA\tB\t3.25\n"))
    assert sts[0].label == 3.25


def test_missing_column_names_file_and_column(tmp_path: Path):
    path = write(tmp_path / "x.tsv", "text\tlabel\nhello\t1\n")
    with pytest.raises(BomergeError, match=r"x\.tsv: missing column 'sentence'"):
        get_task("sst2").read_file(path)


def test_non_numeric_label_names_file_line_and_value(tmp_path: Path):
    path = write(tmp_path / "x.tsv", "sentence\tlabel\nok\t1\nhello\tpositive\n")
    with pytest.raises(BomergeError, match=r"x\.tsv, line 3: label 'positive' is not numeric"):
        get_task("sst2").read_file(path)


def test_out_of_range_class_label(tmp_path: Path):
    path = write(tmp_path / "x.tsv", "sentence\tlabel\nhello\t2\n")
    with pytest.raises(BomergeError, match="line 2: label '2' is not a class index"):
        get_task("sst2").read_file(path)


def test_empty_split_and_missing_files_are_errors(tmp_path: Path):
    write(tmp_path / "SST-2" / "dev.tsv", "sentence\tlabel\n")
    data = DataConfig(root=tmp_path, hub=False)
    with pytest.raises(BomergeError, match="the dev split has no rows"):
        get_task("sst2").load_split(data, "dev")
    with pytest.raises(BomergeError, match="data file not found: .*train.tsv"):
        get_task("sst2").load_split(data, "train")


def test_missing_data_names_the_folder_it_looked_in_before_it_mentions_the_hub(tmp_path: Path,
                                                                               monkeypatch):
    """With the hub off, and with the hub on but failing, the message starts with the file
    that was not found under the data root; the hub comes after it."""
    monkeypatch.delenv("BOMERGE_DATA_ROOT", raising=False)
    looked_in = tmp_path / "SST-2" / "train.tsv"
    with pytest.raises(BomergeError) as refused:
        get_task("sst2").load_split(DataConfig(root=tmp_path, hub=False), "train")
    assert str(refused.value).startswith(f"task 'sst2': data file not found: {looked_in} ")

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(BomergeError) as refused:
        get_task("sst2").load_split(DataConfig(root=tmp_path, hub=True), "train")
    message = str(refused.value)
    assert message.startswith(f"task 'sst2': data file not found: {looked_in}, ")
    assert message.index(str(looked_in)) < message.index("hub")
    assert "ConnectionError: no network" in message


def test_data_root_environment_variable_overrides_config(tmp_path: Path, monkeypatch, glue_root):
    monkeypatch.setenv("BOMERGE_DATA_ROOT", str(glue_root))
    rows = get_task("sst2").load_split(DataConfig(root=tmp_path / "elsewhere", hub=False), "dev")
    assert len(rows) == 240


def test_selection_and_report_are_disjoint_deterministic_and_complete(glue_root: Path):
    task = get_task("sst2")
    rows = task.load_split(DataConfig(root=glue_root, hub=False), "dev")
    selection, report = task.split_selection_report(rows, 0.5)
    again, _ = task.split_selection_report(rows, 0.5)
    assert selection == again
    assert len(selection) == 120 and len(selection) + len(report) == len(rows)
    assert not {id(r) for r in selection} & {id(r) for r in report}


@pytest.mark.parametrize("task_folder, official_rows", [("RTE", 2490), ("MRPC", 3668)])
def test_hub_dev_rule_reproduces_the_shared_dev_rows(shared_glue_root: Path, task_folder,
                                                     official_rows):
    """The rule applied to hub data gives exactly the rows of the shared dev.tsv files."""
    listed = {int(x) for x in (shared_glue_root / task_folder / "dev_rows.txt").read_text().split()}
    assert glue_dev_rows(task_folder, official_rows) == listed


def test_real_sst2_through_the_user_loader(shared_glue_root: Path):
    task = get_task("sst2")
    data = DataConfig(root=shared_glue_root, hub=False)
    dev = task.load_split(data, "dev")
    assert len(dev) == 2000 and {ex.label for ex in dev} == {0.0, 1.0}
