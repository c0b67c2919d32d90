"""bomerge.search.study.lock: one writer per study; a second is refused by name, a dead holder's
lock is taken over."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bomerge.errors import BomergeError
from bomerge.search.study.lock import LOCK_FILE, StudyLock, running_holder

HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from bomerge.search.study.lock import StudyLock
    lock = StudyLock(Path(sys.argv[1]))
    lock.acquire()
    print("held", flush=True)
    time.sleep(120)
    """
)


def hold_in_subprocess(directory: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_writer_is_refused_with_the_holders_pid_host_and_start(tmp_path):
    holder = hold_in_subprocess(tmp_path)
    try:
        with pytest.raises(BomergeError) as refused:
            StudyLock(tmp_path, "s1").acquire()
        message = str(refused.value)
        assert f"pid {holder.pid}" in message and socket.gethostname() in message
        assert "study 's1' is being run by" in message and "started 20" in message
        assert running_holder(tmp_path).pid == holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_killed_process_is_taken_over_and_named(tmp_path):
    holder = hold_in_subprocess(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert running_holder(tmp_path) is None  # the kernel dropped the dead process's lock
    lock = StudyLock(tmp_path)
    previous = lock.acquire()
    try:
        assert previous is not None and previous.pid == holder.pid
        assert running_holder(tmp_path).pid == os.getpid()
    finally:
        lock.release()


def test_a_clean_release_leaves_nothing_to_take_over(tmp_path):
    with StudyLock(tmp_path):
        assert running_holder(tmp_path).pid == os.getpid()
    assert (tmp_path / LOCK_FILE).read_text() == ""
    with StudyLock(tmp_path) as again:
        assert again.previous is None


def test_a_holder_that_exits_is_seen_gone_and_named_by_the_next_writer(tmp_path):
    holder = hold_in_subprocess(tmp_path)
    assert running_holder(tmp_path).pid == holder.pid
    holder.terminate()
    holder.wait()
    assert running_holder(tmp_path) is None
    with StudyLock(tmp_path) as lock:
        assert lock.previous is not None and lock.previous.pid == holder.pid
