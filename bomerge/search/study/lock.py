"""One writer per study.

Two processes appending trials to one Ax experiment would interleave generation-strategy
state and trial indices. A writer (``study run``, ``study resume``, ``baseline``) holds an
exclusive ``flock`` on ``studies/NAME/writer.lock`` for its whole run, and writes who it is
(pid, host, start time, command) into that file, so a second writer can be refused with a
message naming the holder.

The kernel drops a ``flock`` when its process dies, SIGKILL included, so a lock left by a
dead process cannot block anyone: the next writer gets the lock, finds the dead holder's
description still in the file (a clean exit empties it) and says it took over. This holds on
a local disk and on NFSv4 shares, where Linux maps ``flock`` to byte-range locks.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from bomerge.errors import BomergeError

LOCK_FILE = "writer.lock"


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def me(cls) -> Holder:
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            command=" ".join(["bomerge", *sys.argv[1:]]) if sys.argv else "bomerge",
        )

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, started {self.started} ({self.command})"


class StudyLock:
    """The writer lock of one study directory; use as a context manager.

    Raises:
        BomergeError: on entry, when another live process holds the lock (the message
            names it).
    """

    def __init__(self, directory: Path, study: str | None = None) -> None:
        self.path = directory / LOCK_FILE
        self.study = study or directory.name
        self._fd: int | None = None
        self.previous: Holder | None = None

    def acquire(self) -> Holder | None:
        """Take the lock; returns the holder of a lock left by a dead process, if any."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = holder.describe() if holder else "another process (starting up)"
            raise BomergeError(running_message(self.study, who, self.path)) from None
        self._fd = fd
        self.previous = _read_holder(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(Holder.me())).encode(), 0)
        os.fsync(fd)
        return self.previous

    def release(self) -> None:
        if self._fd is None:
            return
        # An empty file after a clean exit; a description left behind means a dead holder.
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _read_holder(fd: int) -> Holder | None:
    raw = os.pread(fd, 4096, 0)
    if not raw:
        return None
    try:
        return Holder(**json.loads(raw))
    except (ValueError, TypeError):
        return None


def running_holder(directory: Path) -> Holder | None:
    """The live writer of a study, or None when no process holds its lock."""
    path = directory / LOCK_FILE
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or Holder(0, "?", "?", "?")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def refuse_while_running(directory: Path, study: str) -> None:
    """Refuse with the writer's name when another live process holds the study's lock (a
    study being created has its lock before its ``study.json``)."""
    holder = running_holder(directory)
    if holder is not None and holder.pid != os.getpid():
        raise BomergeError(running_message(study, holder.describe(), directory / LOCK_FILE))


def running_message(study: str, who: str, lock: Path) -> str:
    """The one line a second writer of a running study gets."""
    return f"study '{study}' is being run by {who}; wait for it to finish or stop it (lock: {lock})"
