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
