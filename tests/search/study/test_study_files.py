"""A study folder as the user's record: copied or moved it is whole on its own, reading it
writes nothing (finished or running), an interrupted budget is finished by a plain resume,
and a damaged file is named in one line by every command, which then writes nothing."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import tiny_study_dict, write_config
from tests.helpers import (
    CLI,
    assert_one_line_error,
    bomerge,
    bomerge_here,
    leave_hot_journal,
    log_lines,
)


@pytest.fixture(scope="module")
def finished(glue_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A studies folder holding study 's': 3 trained candidates, baselines, 2 search trials."""
    root = tmp_path_factory.mktemp("study-files")
    config = write_config(root / "s.yaml", tiny_study_dict(glue_root, root / "studies", name="s",
                                                             trials=2, initial_trials=2))
    ran = bomerge("study", "run", str(config), "--quiet")
    assert ran.returncode == 0, ran.stderr
    return root / "studies"


def hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_of(studies: Path, to: Path) -> Path:
    shutil.copytree(studies, to)
    return to


def test_a_copied_study_is_whole_on_its_own_and_the_original_stays_byte_identical(
        finished: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    original = hashes(finished)
    moved = copy_of(finished, tmp_path / "elsewhere")
    meta = json.loads((moved / "s" / "study.json").read_text())
    assert meta["storage_url"] == "sqlite:///ax.sqlite"
    assert meta["candidates"] and not any(Path(p).is_absolute() for p in meta["candidates"])
    before = [r["trial"] for r in log_lines(moved / "s" / "trials.jsonl")]

    where = ["--studies-dir", str(moved)]
    resumed = bomerge_here(capsys, "study", "resume", "s", "--trials", "2", "--quiet", *where)
    assert resumed.returncode == 0, resumed.stderr
    after = [r["trial"] for r in log_lines(moved / "s" / "trials.jsonl")]
    assert after == list(range(len(before) + 2))  # the copy's numbering goes on
    for command in (["study", "pareto", "s"], ["study", "report", "s"],
                    ["study", "export", "s", str(tmp_path / "merged")]):
        assert bomerge_here(capsys, *command, *where).returncode == 0, command
    assert json.loads((tmp_path / "merged" / "bomerge_merge.json").read_text())["study"] == "s"
    assert hashes(finished) == original


def readers(tmp_path: Path) -> list[list[str]]:
    """Every command that only reads a study."""
    return [["study", "list"], ["study", "pareto", "s"], ["study", "pareto", "s", "--all"],
            ["study", "pareto", "s", "--json"], ["study", "check", "s"],
            ["study", "report", "s", "--out", str(tmp_path / "page.html")],
            ["study", "export", "s", str(tmp_path / "merged"), "--force", "--quiet"],
            ["eval", str(tmp_path / "merged"), "--study", "s", "--part", "report"]]


def test_reading_a_finished_study_writes_nothing(finished: Path, tmp_path: Path, capsys):
    studies = copy_of(finished, tmp_path / "studies")
    before = hashes(studies)
    for command in readers(tmp_path):
        result = bomerge_here(capsys, *command, "--studies-dir", str(studies))
        assert result.returncode == 0, (command, result.stderr)
        assert hashes(studies) == before, command


def test_a_study_killed_mid_write_is_read_without_writing_and_resume_recovers_it(
        finished: Path, tmp_path: Path, capsys):
    studies = copy_of(finished, tmp_path / "studies")
    leave_hot_journal(studies / "s" / "ax.sqlite")
    before = hashes(studies)
    for command in readers(tmp_path):
        result = bomerge_here(capsys, *command, "--studies-dir", str(studies))
        assert result.returncode == 0, (command, result.stderr)
        assert hashes(studies) == before, command
    logged = len(log_lines(studies / "s" / "trials.jsonl"))
    resumed = bomerge_here(capsys, "study", "resume", "s", "--trials", "1", "--quiet",
                           "--studies-dir", str(studies))
    assert resumed.returncode == 0, resumed.stderr
    assert not (studies / "s" / "ax.sqlite-journal").exists()  # rolled back by the writer
    assert len(log_lines(studies / "s" / "trials.jsonl")) == logged + 1


@pytest.mark.slow  # a study runs beside the readers: `pytest -m slow` (docs/testing.md)
def test_reading_a_running_study_writes_nothing_and_does_not_wait_for_it(
        finished: Path, tmp_path: Path, capsys):
    studies = copy_of(finished, tmp_path / "studies")
    folder = studies / "s"
    writer = subprocess.Popen([*CLI, "study", "resume", "s", "--trials", "40", "--quiet",
                               "--studies-dir", str(studies)], stderr=subprocess.PIPE, text=True)
    try:
        logged = len(log_lines(folder / "trials.jsonl"))
        deadline = time.time() + 180
        while len(log_lines(folder / "trials.jsonl")) <= logged and time.time() < deadline:
            time.sleep(0.1)
        # Paused between two database transactions (no rollback journal), so its files
        # cannot change while the readers run; its lock stays held.
        for _ in range(50):
            writer.send_signal(signal.SIGSTOP)
            if not (folder / "ax.sqlite-journal").exists():
                break
            writer.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        before = hashes(studies)
        for command in readers(tmp_path):
            result = bomerge_here(capsys, *command, "--studies-dir", str(studies))
            assert result.returncode == 0, (command, result.stderr)
            assert hashes(studies) == before, command
        listing = bomerge_here(capsys, "study", "list", "--studies-dir", str(studies)).stdout
        assert f"running (pid {writer.pid}" in listing
    finally:
        writer.send_signal(signal.SIGCONT)
        writer.send_signal(signal.SIGINT)
        writer.communicate(timeout=120)


@pytest.mark.slow  # a real interrupt of a real resume: `pytest -m slow` (docs/testing.md)
def test_an_interrupted_resume_budget_is_finished_by_a_plain_resume(
        finished: Path, tmp_path: Path, capsys):
    studies = copy_of(finished, tmp_path / "studies")
    where = ["--studies-dir", str(studies)]
    log = studies / "s" / "trials.jsonl"

    def search_trials() -> int:
        return sum(1 for r in log_lines(log) if r["node"] != "baseline")

    assert search_trials() == 2
    process = subprocess.Popen([*CLI, "study", "resume", "s", "--trials", "6", "--quiet", *where],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while search_trials() < 4 and time.time() < deadline and process.poll() is None:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    assert process.returncode == 130
    assert json.loads((studies / "s" / "study.json").read_text())["target_trials"] == 8

    def row() -> str:
        listing = bomerge_here(capsys, "study", "list", *where).stdout
        return next(line for line in listing.splitlines() if line.startswith("│ s "))

    view = json.loads(bomerge_here(capsys, "study", "pareto", "s", "--json", *where).stdout)
    assert "incomplete" in row() and not re.search(r"trial \d", row())  # no pick yet
    assert not view["complete"] and view["report"] is None  # no report of an older pick

    assert bomerge_here(capsys, "study", "resume", "s", "--quiet", *where).returncode == 0
    assert search_trials() == 8
    view = json.loads(bomerge_here(capsys, "study", "pareto", "s", "--json", *where).stdout)
    result = json.loads((studies / "s" / "result.json").read_text())
    assert view["complete"] and "finished" in row()
    assert view["pick"] == result["scores"]["pick"]["trial"]
    assert f"trial {view['pick']} " in row()


def empty(path: Path) -> None:
    path.write_bytes(b"")


def cut(path: Path) -> None:
    """Cut mid-line (or, for the database, mid-page)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 7])


def delete(path: Path) -> None:
    path.unlink()


def pick_predictions(study: Path) -> str:
    result = json.loads((study / "result.json").read_text())
    return f"predictions/{result['scores']['pick']['predictions']}.json"


DAMAGE = [(name, damage) for name in ("study.json", "config.yaml", "ax.sqlite", "trials.jsonl",
                                      "baselines.jsonl", "predictions")
          for damage in (empty, cut, delete)] + [("result.json", empty), ("result.json", cut)]


@pytest.mark.parametrize(("name", "damage"), DAMAGE,
                         ids=[f"{n}-{d.__name__}" for n, d in DAMAGE])
def test_a_damaged_file_is_named_in_one_line_by_every_command_which_writes_nothing(
        finished: Path, tmp_path: Path, capsys, pytestconfig, name, damage):
    studies = copy_of(finished, tmp_path / "studies")
    target = studies / "s" / (pick_predictions(studies / "s") if name == "predictions" else name)
    damage(target)
    before = hashes(studies)
    where = ["--studies-dir", str(studies)]
    for command in (["study", "pareto", "s"], ["study", "report", "s"],
                    ["study", "export", "s", str(tmp_path / "merged")],
                    ["study", "resume", "s"], ["eval", str(tmp_path), "--study", "s"]):
        refused = bomerge_here(capsys, *command, *where)
        assert_one_line_error(refused, target.name)
    shown = refused.stderr.strip().replace(str(studies / "s") + "/", "")
    if pytestconfig.getoption("capture") == "no":  # docs/studies.md's table (pytest -s)
        with capsys.disabled():
            print(f"| `{target.name}` | {damage.__name__} | `{shown}` |")
    checked = bomerge_here(capsys, "study", "check", "s", *where)
    assert checked.returncode == 2 and target.name in checked.stdout + checked.stderr
    listing = bomerge_here(capsys, "study", "list", *where)
    assert listing.returncode == 0 and "damaged" in listing.stdout
    assert target.name in listing.stdout
    assert hashes(studies) == before
    assert not (tmp_path / "merged").exists()


def test_a_cut_last_log_line_of_a_crash_is_not_damage_and_resume_rewrites_it(
        finished: Path, tmp_path: Path, capsys):
    """A kill mid-append leaves the last line of trials.jsonl cut short while ax.sqlite
    holds the trial: the study is readable and resume writes the line again."""
    studies = copy_of(finished, tmp_path / "studies")
    log = studies / "s" / "trials.jsonl"
    (studies / "s" / "result.json").unlink()  # killed before the study finished
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]) + lines[-1][:20])
    where = ["--studies-dir", str(studies)]
    assert bomerge_here(capsys, "study", "pareto", "s", *where).returncode == 0
    assert bomerge_here(capsys, "study", "resume", "s", "--quiet", *where).returncode == 0
    assert [r["trial"] for r in log_lines(log)] == list(range(len(lines)))
    assert bomerge_here(capsys, "study", "check", "s", *where).returncode == 0


def test_export_force_replaces_only_an_earlier_export_and_honours_the_umask(
        finished: Path, tmp_path: Path, capsys, monkeypatch):
    where = ["--studies-dir", str(finished)]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's own file")
    refused = bomerge_here(capsys, "study", "export", "s", str(mine), "--force", "--quiet", *where)
    assert_one_line_error(refused, "bomerge_merge.json", "did not write it")
    assert (mine / "notes.txt").read_text() == "the user's own file"

    monkeypatch.setattr("os.umask", _fixed_umask(0o022))
    out = tmp_path / "merged"
    for _ in range(2):  # the second run replaces the first export
        done = bomerge_here(capsys, "study", "export", "s", str(out), "--force", "--quiet", *where)
        assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o755
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in out.rglob("*") if p.is_file())
    again = bomerge_here(capsys, "study", "export", "s", str(out), "--quiet", *where)
    assert_one_line_error(again, "holds an earlier export", "--force")


def _fixed_umask(mask: int):
    def umask(_: int) -> int:
        return mask
    return umask
