"""Checking a study's files against each other: what ``bomerge study check`` prints, and
the quick check every command that opens a study passes first.

A damaged file is named, never compounded: a command that meets one stops with one line
naming the file and what to do, before it writes anything. The quick check reads files
only (no Ax, no torch), so ``study list`` can mark a damaged study among the others; the
full check adds the database's own integrity check, every trial of the Ax experiment
against ``trials.jsonl``, and the candidates' hashes.

What counts as damage and what does not follows from how bomerge writes: JSON files are
replaced atomically (any unreadable one is damage); ``trials.jsonl`` and
``baselines.jsonl`` only grow, so a last line cut short is what a crash mid-append leaves
(``resume`` repairs it) unless the stored result counts trials the log no longer holds; a
missing ``result.json``, ``selection_order.json`` or ``references.json`` is a study that has
not written them yet (``resume`` writes them, the same as before).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bomerge.errors import BomergeError
from bomerge.search.study.database import readable_sqlite, sqlite_file
from bomerge.search.study.remedies import RESTORE, predictions_remedy, read_json, recompute
from bomerge.search.study.store import StudyStore

SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Finding:
    """One disagreement: the file at fault, what is wrong, and what to do."""

    path: Path
    problem: str
    remedy: str

    def line(self) -> str:
        return f"{self.path}: {self.problem}; {self.remedy}"


def open_study(name: str, studies_dir: Path | None = None) -> StudyStore:
    """The store of study ``name`` once its files pass the quick check (else one line)."""
    store = StudyStore.locate(name, studies_dir)
    require_intact(store)
    return store


def require_intact(store: StudyStore) -> None:
    """Stop with the first damaged file of the study, before anything is written."""
    findings = file_findings(store)
    if findings:
        raise BomergeError(findings[0].line())


def file_findings(store: StudyStore) -> list[Finding]:
    """The quick check: every file readable, the database a whole SQLite file, and the log
    holding every trial the stored result counts. Files only."""
    try:
        store.read_meta()
        config = store.read_config()
    except BomergeError as error:
        return [_as_finding(store, error)]
    findings = []
    database = sqlite_file(store.database_url())
    if database is not None:
        problem = sqlite_file_problem(database)
        if problem:
            findings.append(Finding(database, problem, RESTORE))

    def read(reader: Callable[[], Any]) -> Any:
        """What ``reader`` returns, or None with its damage recorded as a finding."""
        try:
            return reader()
        except BomergeError as error:
            findings.append(_as_finding(store, error))
            return None

    logs: dict[Path, list[dict[str, Any]]] = {}
    for path, reader in ((store.log_path, store.read_log),
                         (store.baselines_path, lambda: list(store.read_baselines().values()))):
        if (records := read(reader)) is not None:
            logs[path] = records
    result = read(store.read_result)
    read(store.read_references)
    if store.selection_order_path.is_file():
        read(lambda: read_json(store.selection_order_path, recompute(store.name, "it")))
    if result is not None and config.outer is None:
        findings += _result_findings(store, result, logs)
        findings += _baseline_arm_findings(store, logs)
    return findings


def _baseline_arm_findings(store: StudyStore,
                           logs: dict[Path, list[dict[str, Any]]]) -> list[Finding]:
    """In a finished study every baseline arm of the log is recorded in ``baselines.jsonl``
    (the result compares the pick with them). Before the study finishes, arms logged but
    not yet recorded are what a kill inside the baseline suite leaves (its arms are logged
    as they are scored, the records appended after), and the next run scores them again
    against their existing arms: not damage. A kill inside a later ``bomerge baseline``
    leaves at most its last arm unrecorded, which is tolerated too."""
    log, baselines = logs.get(store.log_path), logs.get(store.baselines_path)
    if log is None or baselines is None:
        return []
    recorded = {b.get("label") for b in baselines}
    logged = [r.get("arm") for r in log if r.get("node") == "baseline"
              and not re.fullmatch(r"point_\d+", str(r.get("arm")))]
    missing = [arm for arm in dict.fromkeys(logged) if arm not in recorded]
    if not missing or missing == logged[-1:]:
        return []
    return [Finding(store.baselines_path, f"has no record of baseline arm '{missing[0]}' "
                    f"({len(missing)} missing), which trials.jsonl holds", RESTORE)]


def _result_findings(store: StudyStore, result: dict[str, Any],
                     logs: dict[Path, list[dict[str, Any]]]) -> list[Finding]:
    """What the stored result names that the other files no longer hold."""
    findings = []
    log = logs.get(store.log_path)
    counted = result.get("trials")
    if log is not None and isinstance(counted, int):
        logged = len({r.get("trial") for r in log})
        if logged < counted:
            findings.append(Finding(store.log_path,
                                    f"holds {logged} trials, result.json counts {counted} "
                                    "(lines lost or cut)", RESTORE))
    recorded = {b.get("label") for b in logs.get(store.baselines_path) or []}
    for role, score in (result.get("scores") or {}).items():
        if not isinstance(score, dict):
            continue
        if score.get("trial") is None and score.get("arm") and store.baselines_path in logs \
                and score["arm"] not in recorded:
            findings.append(Finding(store.baselines_path,
                                    f"has no baseline '{score['arm']}', which result.json "
                                    f"names as its {role}", RESTORE))
        label = score.get("predictions")
        if label:
            try:
                if store.read_predictions(label) is None:
                    findings.append(Finding(store.predictions_path(label),
                                            f"missing, though result.json names it ({role})",
                                            predictions_remedy(store.name)))
            except BomergeError as error:
                findings.append(_as_finding(store, error))
    return findings


def sqlite_file_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole SQLite database file, or None: missing, empty, another
    kind of file, or a length that is not a whole number of its pages (cut short)."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size == 0:
        return "empty (0 bytes)"
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return "not a SQLite database (cut or overwritten)"
    page = int.from_bytes(header[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or size % page:
        return f"cut short ({size} bytes is not a whole number of its {page}-byte pages)"
    return None


def full_findings(store: StudyStore, hashes: bool = True) -> list[Finding]:
    """``bomerge study check``: the quick check, then SQLite's integrity check, every
    trial of the Ax experiment against ``trials.jsonl``, and the candidates' folders and
    (with ``hashes``) weight files against the hashes the study recorded."""
    findings = file_findings(store)
    if any(f.path.name in ("study.json", "config.yaml") for f in findings):
        return findings
    database = sqlite_file(store.database_url())
    if database is not None and not any(f.path == database for f in findings):
        problem = sqlite_integrity(database)
        if problem:
            findings.append(Finding(database, problem, RESTORE))
    if not any(f.path == database for f in findings) and store.read_config().outer is None:
        findings += _log_against_database(store)
    findings += _candidate_findings(store, hashes)
    return findings


def sqlite_integrity(path: Path) -> str | None:
    """SQLite's own ``quick_check`` of the file, opened read-only."""
    try:
        with readable_sqlite(path) as uri:
            connection = sqlite3.connect(uri, uri=True)
            try:
                rows = connection.execute("PRAGMA quick_check").fetchall()
            finally:
                connection.close()
    except sqlite3.DatabaseError as error:
        return f"damaged ({error})"
    messages = [row[0] for row in rows if row[0] != "ok"]
    return f"damaged ({messages[0]})" if messages else None


def _log_against_database(store: StudyStore) -> list[Finding]:
    """Each finished trial of the experiment has its line in ``trials.jsonl`` with the same
    scores, and each line a trial of the experiment."""
    try:
        experiment = store.read_experiment()
    except BomergeError as error:
        return [_as_finding(store, error)]
    try:
        log = {r["trial"]: r for r in store.read_log()}
    except BomergeError:
        return []  # already a finding of the quick check
    trials = experiment.trials if experiment is not None else {}
    findings = []
    data = experiment.lookup_data().df if experiment is not None else None
    for index, trial in sorted(trials.items()):
        if not (trial.status.is_completed or trial.status.is_early_stopped):
            continue
        if index not in log:
            findings.append(Finding(store.log_path, f"has no line for trial {index}, which "
                                    "ax.sqlite holds as finished",
                                    f"`bomerge study resume {store.name}` writes it"))
            continue
        rows = data[data.trial_index == index] if data is not None else None
        for metric in ("loss", "metric"):
            logged = log[index].get(metric)
            stored = rows[rows.metric_name == metric]["mean"] if rows is not None else None
            if logged is None or stored is None or stored.empty:
                continue
            if abs(float(stored.iloc[-1]) - float(logged)) > 1e-9 * max(1.0, abs(logged)):
                findings.append(Finding(store.log_path, f"trial {index}'s {metric} {logged} "
                                        f"differs from ax.sqlite's {float(stored.iloc[-1])}",
                                        RESTORE))
    for index in sorted(set(log) - set(trials)):
        findings.append(Finding(store.log_path, f"has trial {index}, which ax.sqlite does not",
                                RESTORE))
    return findings


def _candidate_findings(store: StudyStore, hashes: bool) -> list[Finding]:
    from bomerge.integrity import weight_file_sha256

    meta = store.read_meta()
    findings = []
    for folder, recorded in sorted(meta.candidate_sha256.items()):
        path = Path(folder)
        if not path.is_dir():
            findings.append(Finding(path, "candidate folder missing",
                                    "restore it, or resume elsewhere where it is"))
            continue
        if not hashes:
            continue
        try:
            now = weight_file_sha256(path)
        except BomergeError as error:
            findings.append(Finding(path, str(error), "restore the candidate's weights"))
            continue
        if now != recorded:
            findings.append(Finding(path, f"weights changed since the study recorded them "
                                    f"(sha256 {recorded[:12]}… recorded, {now[:12]}… now)",
                                    "restore them, or resume with --allow-changed-candidates"))
    return findings


def _as_finding(store: StudyStore, error: BomergeError) -> Finding:
    """A store error (``PATH: problem; remedy``) as a finding."""
    text = str(error)
    where, _, rest = text.partition(": ")
    problem, _, remedy = rest.partition("; ")
    path = Path(where)
    if not where or not (path.is_absolute() or path.parent != Path(".")):
        return Finding(store.directory, text, RESTORE)
    return Finding(path, problem, remedy or RESTORE)
