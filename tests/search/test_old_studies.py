"""Studies written before the Task/strategy/executor restructuring open, resume, report and
export unchanged.

The study is written by the bomerge of commit ``FORMAT_COMMIT`` (the last one before the
restructuring), taken from this repository's own history with ``git archive`` and run in a
subprocess; the current code then reads and continues it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from tests.conftest import REPO, write_config
from tests.helpers import bomerge_here, log_lines

FORMAT_COMMIT = "0e92ea6"


def old_bomerge(tmp_path: Path) -> Path:
    """The package as it was at ``FORMAT_COMMIT``, unpacked into a folder of its own."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        if os.environ.get("CI"):
            pytest.fail("CI runs from a git clone: the old version must be available")
        pytest.skip("not a git checkout: the old version is not available")
    archive = subprocess.run(["git", "-C", str(REPO), "archive", FORMAT_COMMIT, "bomerge"],
                             capture_output=True, timeout=60)
    if archive.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(archive.stderr.decode())
        pytest.skip(f"commit {FORMAT_COMMIT} not in this clone's history")
    folder = tmp_path / "old"
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


@pytest.mark.slow  # over 15 s: `pytest -m slow` (docs/testing.md)
def test_a_study_written_by_the_previous_format_opens_resumes_reports_and_exports(
    glue_root: Path, tiny_candidates: list[Path], tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the report page is written to the working folder
    studies = tmp_path / "studies"
    config = write_config(tmp_path / "old.yaml", {
        "name": "old", "studies_dir": str(studies), "seed": 0, "device": "cpu",
        "task": {"name": "sst2", "max_length": 24, "data": {"root": str(glue_root), "hub": False}},
        "candidates": {"paths": [str(p) for p in tiny_candidates]},
        "search": {"trials": 2, "initial_trials": 2, "num_restarts": 2, "raw_samples": 32},
    })
    old = old_bomerge(tmp_path)
    script = ("import sys, bomerge; assert bomerge.__file__.startswith(sys.argv[1]), "
              "bomerge.__file__; from bomerge.cli import main; "
              "sys.argv = ['bomerge', 'study', 'run', sys.argv[2], '-q']; main()")
    written = subprocess.run([sys.executable, "-c", script, str(old), str(config)],
                             env={**os.environ, "PYTHONPATH": str(old)}, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert written.returncode == 0, written.stderr[-3000:]
    before = log_lines(studies / "old" / "trials.jsonl")
    where = ["--studies-dir", str(studies)]

    listing = json.loads(bomerge_here(capsys, "study", "pareto", "old", "--json", *where).stdout)
    assert listing["complete"]
    recorded = {r["trial"]: r for r in before}
    for trial in listing["trials"]:  # Ax's store keeps 10 significant digits
        assert (trial["loss"], trial["metric"]) == pytest.approx(
            (recorded[trial["index"]]["loss"], recorded[trial["index"]]["metric"]), abs=1e-9)

    resumed = bomerge_here(capsys, "study", "resume", "old", "--trials", "1", "-q", *where)
    assert resumed.returncode == 0, resumed.stderr
    after = log_lines(studies / "old" / "trials.jsonl")
    assert after[: len(before)] == before
    assert [r["trial"] for r in after[len(before):]] == [len(before)]
    assert after[-1]["node"] == "qLogNEHVI"

    report = bomerge_here(capsys, "study", "report", "old", *where)
    assert report.returncode == 0, report.stderr
    assert 'id="objective-plane"' in Path("old-report.html").read_text()

    out = tmp_path / "merged"
    exported = bomerge_here(capsys, "study", "export", "old", str(out), "--trial", "0", "-q",
                            *where)
    assert exported.returncode == 0, exported.stderr
    scored = json.loads(bomerge_here(capsys, "eval", str(out), "--study", "old", "--part",
                                     "selection", "--json", *where).stdout)
    assert (scored["loss"], scored["accuracy"]) == (recorded[0]["loss"], recorded[0]["metric"])
