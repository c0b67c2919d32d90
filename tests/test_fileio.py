"""bomerge.fileio: what a crash mid-write can leave behind is never read as data."""

from __future__ import annotations

import json

import pytest

from bomerge.errors import BomergeError
from bomerge.fileio import append_jsonl, atomic_write, read_jsonl


def test_a_line_cut_short_by_a_crash_is_ignored_and_dropped_by_the_next_append(tmp_path):
    log = tmp_path / "trials.jsonl"
    append_jsonl(log, {"trial": 0})
    append_jsonl(log, {"trial": 1})
    with log.open("a") as handle:  # SIGKILL half-way through writing trial 2's line
        handle.write('{"trial": 2, "lo')
    assert read_jsonl(log) == [{"trial": 0}, {"trial": 1}]
    append_jsonl(log, {"trial": 2})
    assert read_jsonl(log) == [{"trial": 0}, {"trial": 1}, {"trial": 2}]
    assert log.read_text().count("\n") == 3


def test_a_damaged_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path):
    log = tmp_path / "trials.jsonl"
    log.write_text('{"trial": 0}\nnot json\n{"trial": 2}\n')
    with pytest.raises(BomergeError, match=r"trials.jsonl: line 2 is not valid JSON"):
        read_jsonl(log)


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.json"
    atomic_write(target, json.dumps({"v": 1}))
    atomic_write(target, json.dumps({"v": 2}))
    assert json.loads(target.read_text()) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_a_missing_log_reads_as_empty(tmp_path):
    assert read_jsonl(tmp_path / "none.jsonl") == []
