"""Content hashes of model folders, and the check that a study's candidates are unchanged.

A study's trials describe merges of particular weight files. If a candidate folder is
retrained or replaced after trials were scored, those scores no longer describe the files on
disk, so a resume compares every candidate's SHA-256 with the one recorded when the study
first loaded it and refuses a change unless the user accepts it explicitly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bomerge.errors import BomergeError
from bomerge.models import WEIGHT_FILES


def weight_file(folder: Path) -> Path:
    """The weight file of a Hugging Face model folder (safetensors preferred)."""
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            return path
    raise BomergeError(f"{folder}: no model.safetensors or pytorch_model.bin")


@lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and modification time too, so a rewritten file is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def weight_file_sha256(folder: Path) -> str:
    """SHA-256 of a model folder's weight file (hashed once per process per file version)."""
    return file_sha256(weight_file(folder))


@dataclass(frozen=True)
class ChangedCandidate:
    folder: str
    recorded: str
    now: str


def changed_candidates(recorded: dict[str, str], folders: list[Path]) -> list[ChangedCandidate]:
    """Candidates whose weight file no longer has the recorded hash (folders not recorded
    yet are not changes)."""
    changed = []
    for folder in folders:
        key = str(folder.resolve())
        if key in recorded:
            now = weight_file_sha256(folder)
            if now != recorded[key]:
                changed.append(ChangedCandidate(key, recorded[key], now))
    return changed


def changed_message(study: str, changed: list[ChangedCandidate]) -> str:
    first = changed[0]
    more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
    return (
        f"study '{study}': candidate {first.folder} changed since its trials were scored "
        f"(sha256 {first.recorded[:12]}… recorded, {first.now[:12]}… now){more}; restore it, "
        "or resume with --allow-changed-candidates to accept the new weights"
    )
