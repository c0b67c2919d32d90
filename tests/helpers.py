"""What many test modules share: running the CLI (in a subprocess or in this process),
the one-line error check, and reading a study's log. Test modules import these from here,
never from each other."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "bomerge"]


def bomerge(*args: str, env: dict | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def bomerge_here(capsys: pytest.CaptureFixture, *args: str) -> subprocess.CompletedProcess:
    """The CLI in this process (no interpreter start-up): for commands that must fail before
    any work, where a subprocess would only add seconds of imports."""
    from bomerge.cli import main

    argv, sys.argv = sys.argv, ["bomerge", *args]
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    finally:
        sys.argv = argv
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, captured.out, captured.err)


def log_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.is_file() else []


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """The command failed with exit 2 and exactly one line on stderr, ``error: …`` holding
    every fragment."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], result.stderr
    assert lines[0].startswith("error:")


def table_pick(stdout: str) -> int:
    """The trial index of the row ``study pareto`` marks as the pick."""
    row = next(line for line in stdout.splitlines() if "★ pick" in line)
    return int(row.split("│")[1].split()[0])


BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--virtual-time-budget=15000"]


def chromium() -> str:
    """Debian's Chromium for the report-page tests: skipped without it, failed under CI."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium (.ci/run installs it)")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    return found


# A writer that changes the file (its cache spills pages into it) and dies before committing.
KILLED_WRITER = """
import os, sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("PRAGMA cache_size=1")
connection.execute("BEGIN")
connection.execute("CREATE TABLE bomerge_unfinished(y)")
connection.executemany("INSERT INTO bomerge_unfinished VALUES (?)", [("x" * 500,)] * 2000)
os._exit(0)
"""


def leave_hot_journal(path: Path) -> None:
    """Write to ``path`` in a process that dies mid-transaction, as a SIGKILL would."""
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=True)
    assert Path(f"{path}-journal").stat().st_size > 0


def assert_tables_read_as_ax_decodes(store: Any) -> None:
    """A study's trials read straight from its SQLite tables (what reading commands use)
    equal Ax's own decoding of its experiment: arm, parameters, node, status and scores
    (stored with 10 significant digits; pandas' parser may differ in the last bit)."""
    from dataclasses import replace

    from bomerge.search.study.ax_tables import trials_of_experiment

    fast = store.read_trials()
    assert fast, "the study has no trials"
    decoded = trials_of_experiment(store.read_experiment())
    assert [replace(t, values={}) for t in fast] == [replace(t, values={}) for t in decoded]
    for mine, axs in zip(fast, decoded, strict=True):
        assert mine.values == pytest.approx(axs.values, rel=1e-12, nan_ok=True), mine.index


def assert_judged_chunk_by_chunk(executor_with: Any, runner: Any, points: list[dict],
                                 local: list[Any]) -> None:
    """An executor scoring elsewhere hands each chunk's running scores back to the study
    process: with a judge that stops trial 0 after its first chunk, trial 0 ends there and
    trial 1 finishes with the scores ``local[1]`` the study process computed in one go.
    ``executor_with(decide_for)`` builds the executor under test."""
    from bomerge.search.executors import PendingTrial

    chunks = runner.bench.selection.chunk_ends
    first = sum(len(b.labels) for b in runner.bench.selection.batches[:chunks[0]])
    asked: list[tuple[int, int]] = []

    def decide_for(index: int) -> Any:
        return lambda running: bool(asked.append((index, running.n))) or index == 0

    with executor_with(decide_for) as executor:
        for i in range(2):
            executor.submit(PendingTrial(i, points[i], 0.0))
        outcomes = {trial.index: outcome
                    for trial, outcome in (executor.next_finished() for _ in range(2))}
    assert outcomes[0].stopped and outcomes[0].result.n == first
    assert not outcomes[1].stopped
    assert (outcomes[1].result.loss, outcomes[1].result.metric) == (local[1].loss, local[1].metric)
    assert [n for i, n in asked if i == 0] == [first]
    assert len([n for i, n in asked if i == 1]) == len(chunks) - 1
