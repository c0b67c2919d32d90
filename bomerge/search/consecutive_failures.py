"""Stopping a study whose trials keep failing, rather than spending its whole budget on
failures (a broken candidate, a device out of memory on every merge)."""

from __future__ import annotations

from bomerge.errors import BomergeError


class ConsecutiveFailures:
    """Stops a study whose trials keep failing: after ``limit`` failed trials in a row, a
    BomergeError names the last reason (completed trials stay saved)."""

    def __init__(self, limit: int, study: str) -> None:
        self.limit, self.study, self.count = limit, study, 0

    def add(self, index: int, reason: str | None) -> None:
        if reason is None:
            self.count = 0
            return
        self.count += 1
        if self.count >= self.limit:
            raise BomergeError(
                f"study '{self.study}' stopped: {self.count} trials in a row failed (last: "
                f"trial {index}, {reason}); completed trials are saved, reasons are in "
                f"trials.jsonl (search.max_consecutive_failures: {self.limit})"
            )
