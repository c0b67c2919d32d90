"""Files that survive a crash at any moment: atomic replacement and append-only JSON lines.

SIGKILL (or a power cut) can stop bomerge between any two instructions. A file that is
rewritten goes through a synced temporary sibling and a rename, so readers see the old or
the new content; a log that grows is JSON lines, where the only possible damage is a last
line cut short, which readers ignore and the next append removes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bomerge.errors import BomergeError


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a crash at any moment leaves the old or the new
    content, never a mix: a synced temporary sibling renamed over the file."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def append_jsonl(path: Path, *records: dict[str, Any]) -> None:
    """Append one JSON line per record, in one write. A line cut short by a crash in an
    earlier append is dropped first, so the file stays one valid record per line."""
    lines = "".join(json.dumps(record) + "\n" for record in records)
    with path.open("a+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size:
            handle.seek(size - 1)
            if handle.read(1) != b"\n":  # rare: only after a crash, so read the tail then
                handle.seek(max(0, size - (1 << 20)))
                tail = handle.read()
                cut = tail.rfind(b"\n")
                handle.truncate(size - len(tail) + cut + 1)
        handle.seek(0, os.SEEK_END)
        handle.write(lines.encode())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file; a last line cut short by a crash is ignored (an
    unreadable line elsewhere is an error naming the file and line)."""
    if not path.is_file():
        return []
    lines = path.read_text().split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: an interrupted append
                break
            raise BomergeError(f"{path}: line {number} is not valid JSON") from None
    return records
