"""The study directory, the single source of truth for a study: its config snapshot,
``study.json``, the Ax database, the logs, the result and the kept predictions (the file
table is in docs/studies.md). Paths inside the folder are recorded relative to it; Ax
commits each trial as it completes, so a crash loses at most the trial in flight."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bomerge.config import StudyConfig, dump_config, load_config
from bomerge.errors import BomergeError
from bomerge.fileio import append_jsonl, atomic_write, read_jsonl
from bomerge.search.study.database import DATABASE, SQLITE, StudyDatabase, sqlite_file
from bomerge.search.study.lock import refuse_while_running
from bomerge.search.study.remedies import RESTORE, predictions_remedy, read_json, recompute

FORMAT_VERSION = 1
STUDIES_DIR_ENV = "BOMERGE_STUDIES_DIR"
#: The storage URL of a study's own database, relative to its folder.
LOCAL_DATABASE_URL = SQLITE + DATABASE


def default_studies_dir() -> Path:
    """The studies folder when neither a flag nor a config names one: ``$BOMERGE_STUDIES_DIR``
    (an empty value counts as unset), else ``./studies``."""
    return Path(os.environ.get(STUDIES_DIR_ENV) or "studies")


def resolve_studies_dir(flag: Path | None, config: StudyConfig | None = None) -> Path:
    """The folder a command's studies live in, by one rule for every command: ``flag``
    (``--studies-dir``), else the config's ``studies_dir`` when its YAML sets the key, else
    ``$BOMERGE_STUDIES_DIR``, else ``./studies``.

    A config's ``studies_dir`` counts only when given explicitly (the key is in
    ``model_fields_set``): its default must not hide the environment variable, or a study
    made by ``study run`` would land where ``study resume`` does not look.
    """
    if flag is not None:
        return flag
    if config is not None and "studies_dir" in config.model_fields_set:
        return config.studies_dir
    return default_studies_dir()


@dataclass
class StudyMeta:
    format_version: int
    name: str
    created: str
    seed: int
    storage_url: str
    candidates: list[str]
    # SHA-256 of each candidate's weight file, by folder, recorded when first loaded.
    candidate_sha256: dict[str, str] = field(default_factory=dict)
    # Chunks of the selection order (selection_order.json) trials are scored in; None for a
    # study created before progressive evaluation (its rows keep their one batching).
    selection_chunks: int | None = None
    # Search trials the latest run aims at (``resume --trials N`` records done + N before
    # its first trial, so a plain ``resume`` after an interrupt finishes that budget); None:
    # the config's ``search.trials``.
    target_trials: int | None = None
    # SHA-256 of config.yaml as written: a snapshot cut short can still be valid YAML with
    # other values (``raw_samples: 3`` from ``32``), so it is checked on every read.
    config_sha256: str | None = None


@dataclass(frozen=True)
class LoggedProgress:
    """A study's progress as its log and result say: trials logged (baseline arms too),
    search trials among them, the budget, and the stored result."""

    trials: int
    search_trials: int
    budget: int
    result: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        """Whether the stored result covers every trial and the budget is reached (a result
        written before ``resume --trials N`` added trials is out of date)."""
        return (self.result is not None and result_is_current(self.result, self.trials)
                and self.search_trials >= self.budget)


def result_is_current(result: dict[str, Any], trials: int) -> bool:
    """Whether a stored result was written with the study's ``trials`` trials (a bilevel
    result counts outer trials, and is current when written)."""
    return bool(result.get("bilevel")) or result.get("trials", trials) == trials


class StudyStore(StudyDatabase):
    """Files of one study directory, and its Ax database.

    A store opened ``read_only`` (what ``export`` and ``eval --study`` rebuild a merge
    from) writes nothing: what the study would record (metadata, references, the selection
    order, statistics) is used in memory only."""

    def __init__(self, directory: Path, read_only: bool = False) -> None:
        self.directory = directory
        self.read_only = read_only

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def config_path(self) -> Path:
        return self.directory / "config.yaml"

    @property
    def meta_path(self) -> Path:
        return self.directory / "study.json"

    @property
    def log_path(self) -> Path:
        return self.directory / "trials.jsonl"

    @property
    def result_path(self) -> Path:
        return self.directory / "result.json"

    @property
    def training_log_path(self) -> Path:
        """One line per fine-tuning run the study actually trained."""
        return self.directory / "training.jsonl"

    @property
    def outer_log_path(self) -> Path:
        """A bilevel study's outer trials, one line each."""
        return self.directory / "outer.jsonl"

    @property
    def inner_studies_dir(self) -> Path:
        """A bilevel study's inner studies, one per outer trial."""
        return self.directory / "inner"

    @property
    def selection_order_path(self) -> Path:
        """The study's fixed, label-stratified order of its selection rows and its chunks
        (``bomerge.progression.RowPlan``), drawn when the study first opens."""
        return self.directory / "selection_order.json"

    @property
    def candidates_dir(self) -> Path:
        return self.directory / "candidates"

    def exists(self) -> bool:
        return self.meta_path.is_file()

    @classmethod
    def locate(cls, name: str, studies_dir: Path | None = None) -> StudyStore:
        """The store of an existing study, by name (or by path to its folder); a name is
        looked up in ``resolve_studies_dir(studies_dir)``."""
        candidate = Path(name)
        store = cls(candidate if (candidate / "study.json").is_file() else
                    resolve_studies_dir(studies_dir) / name)
        if not store.exists():
            refuse_while_running(store.directory, name)  # being created
            if store.damaged_folder():
                raise BomergeError(f"{store.meta_path}: missing, though the folder holds a "
                                   f"study's files; {RESTORE}")
            raise BomergeError(
                f"no study named '{name}' in {store.directory.parent} "
                f"(see `bomerge study list`)"
            )
        return store

    def damaged_folder(self) -> bool:
        """Whether the folder holds a study's files but no ``study.json`` (deleted or lost):
        a study that must be restored, not a free name."""
        return not self.exists() and any(
            (self.directory / name).exists() for name in (DATABASE, "trials.jsonl"))

    def create(self, config: StudyConfig, shared_database: Path | None = None) -> None:
        """Write the config snapshot, the database's tables and, last, the metadata of a new
        study (``study.json`` marks a study: a crash before it leaves no study of the name).

        The database is the study's own ``ax.sqlite`` (recorded relative to its folder),
        ``shared_database`` (a SQLite file another study writes too, e.g. a bilevel study's,
        also recorded relative) or the config's ``storage.url`` as given (a relative SQLite
        path in it is relative to the working folder, so it is made absolute)."""
        self.refuse_existing()
        self.directory.mkdir(parents=True, exist_ok=True)
        snapshot = dump_config(config)
        atomic_write(self.config_path, snapshot)
        url = config.storage.url or LOCAL_DATABASE_URL
        explicit = sqlite_file(url) if config.storage.url else None
        if explicit is not None and not explicit.is_absolute():
            url = SQLITE + str(explicit.resolve())
        if shared_database is not None:
            url = SQLITE + os.path.relpath(shared_database.resolve(), self.directory.resolve())
        self._create_tables(self._resolve_url(url))
        meta = StudyMeta(
            format_version=FORMAT_VERSION,
            name=config.name,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            seed=config.seed,
            storage_url=url,
            candidates=[],
            selection_chunks=config.search.early_stopping.chunks,
            config_sha256=hashlib.sha256(snapshot.encode()).hexdigest(),
        )
        self.write_meta(meta)

    def refuse_existing(self) -> None:
        if not self.exists():
            refuse_while_running(self.directory, self.name)  # another run is creating it
        if self.damaged_folder():
            raise BomergeError(f"{self.directory} holds a study's files without its study.json; "
                               "restore it, or choose another name")
        if self.exists():
            raise BomergeError(
                f"study '{self.name}' already exists in {self.directory}; continue it with "
                f"`bomerge study resume {self.name}` or choose another name"
            )

    def read_meta(self) -> StudyMeta:
        """The study's metadata, paths inside the study folder made absolute again; refuses
        a file this version of bomerge cannot read."""
        data = read_json(self.meta_path, RESTORE)
        version = data.get("format_version") if isinstance(data, dict) else None
        if not isinstance(version, int):
            raise BomergeError(f"{self.meta_path}: no integer 'format_version'; "
                               "not a bomerge study")
        if version > FORMAT_VERSION:
            raise BomergeError(
                f"{self.meta_path}: study format version {version} was written by a newer "
                f"bomerge (this one reads version {FORMAT_VERSION}); upgrade bomerge to open it"
            )
        if version < FORMAT_VERSION:
            raise BomergeError(
                f"{self.meta_path}: study format version {version} is older than this "
                f"bomerge supports (version {FORMAT_VERSION})"
            )
        known = {f.name for f in fields(StudyMeta)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BomergeError(f"{self.meta_path}: unknown key '{unknown[0]}' for format "
                               f"version {version}")
        meta = StudyMeta(**data)
        origin = self._origin(meta.storage_url)
        meta.candidates = [self._absolute(p, origin) for p in meta.candidates]
        meta.candidate_sha256 = {self._absolute(p, origin): h
                                 for p, h in meta.candidate_sha256.items()}
        return meta

    def write_meta(self, meta: StudyMeta) -> None:
        """Write ``study.json`` atomically, paths inside the study folder made relative."""
        if self.read_only:
            return
        stored = asdict(meta)
        stored["candidates"] = [self._relative(p) for p in meta.candidates]
        stored["candidate_sha256"] = {self._relative(p): h
                                      for p, h in meta.candidate_sha256.items()}
        atomic_write(self.meta_path, json.dumps(stored, indent=2))

    def _relative(self, path: str) -> str:
        inside = Path(path)
        root = self.directory.resolve()
        if inside.is_absolute() and inside.is_relative_to(root):
            return str(inside.relative_to(root))
        return path

    def _absolute(self, path: str, origin: Path | None = None) -> str:
        here = self.directory.resolve()
        if origin is not None and Path(path).is_relative_to(origin):
            return str(here / Path(path).relative_to(origin))
        return path if Path(path).is_absolute() else str(here / path)

    def read_config(self) -> StudyConfig:
        """The config snapshot; its ``studies_dir`` is where the study is now (a moved
        study's snapshot names the folder it was made in)."""
        from pydantic import ValidationError

        if not self.config_path.is_file():
            raise BomergeError(f"{self.config_path}: missing; {RESTORE}")
        recorded = self.read_meta().config_sha256
        if recorded is not None:
            now = hashlib.sha256(self.config_path.read_bytes()).hexdigest()
            if now != recorded:
                raise BomergeError(f"{self.config_path}: changed since the study was made "
                                   f"(sha256 {now[:12]}…, study.json records "
                                   f"{recorded[:12]}…); {RESTORE}")
        try:
            config = load_config(self.config_path)
        except (BomergeError, ValidationError) as error:
            reason = str(error).splitlines()[0]
            raise BomergeError(f"{self.config_path}: damaged ({reason}); {RESTORE}") from None
        return config.model_copy(update={"studies_dir": self.directory.parent})

    def append_log(self, *records: dict[str, Any]) -> None:
        """Append trials' log lines (one write for several)."""
        append_jsonl(self.log_path, *records)

    def read_log(self) -> list[dict[str, Any]]:
        return read_jsonl(self.log_path)

    def logged_trials(self) -> set[int]:
        return {record["trial"] for record in self.read_log()}

    def search_budget(self, config: StudyConfig) -> int:
        """The search trials the study aims at: the target the latest ``resume --trials N``
        recorded (the user's latest word), else the config's ``search.trials``."""
        target = self.read_meta().target_trials
        return config.search.trials if target is None else target

    def record_budget(self, target: int) -> None:
        """Record the target of a run that adds trials, before its first trial."""
        meta = self.read_meta()
        if meta.target_trials != target:
            meta.target_trials = target
            self.write_meta(meta)

    def logged_progress(self) -> LoggedProgress:
        """How far the study is by its files alone (no database: ``study list``)."""
        log = self.read_log()
        search = {r["trial"] for r in log if r.get("node") != "baseline"}
        return LoggedProgress(len({r["trial"] for r in log}), len(search),
                              self.search_budget(self.read_config()), self.read_result())

    @property
    def baselines_path(self) -> Path:
        return self.directory / "baselines.jsonl"

    @property
    def statistics_dir(self) -> Path:
        return self.directory / "statistics"

    def append_baseline(self, record: dict[str, Any]) -> None:
        append_jsonl(self.baselines_path, record)

    def read_baselines(self) -> dict[str, dict[str, Any]]:
        """Recorded baseline results by label (the latest record of a label wins)."""
        return {record["label"]: record for record in read_jsonl(self.baselines_path)}

    def write_result(self, result: dict[str, Any]) -> None:
        atomic_write(self.result_path, json.dumps(result, indent=2))

    def read_result(self) -> dict[str, Any] | None:
        """The stored result, or None before the study first finishes."""
        if not self.result_path.is_file():
            return None
        return read_json(self.result_path, recompute(self.name, "its result"))

    @property
    def references_path(self) -> Path:
        """Each task's individual-model metric per part of the rows (cross-task studies)."""
        return self.directory / "references.json"

    def read_references(self) -> dict[str, Any]:
        path = self.references_path
        return read_json(path, recompute(self.name, "them")) if path.is_file() else {}

    def write_references(self, references: dict[str, Any]) -> None:
        if self.read_only:
            return
        atomic_write(self.references_path, json.dumps(references, indent=2))

    @property
    def predictions_dir(self) -> Path:
        return self.directory / "predictions"

    def predictions_path(self, label: str) -> Path:
        """Where the report-row predictions of ``label`` (a baseline, or ``trial_N``) live."""
        if not label or "/" in label or label.startswith("."):
            raise BomergeError(f"'{label}' cannot name a predictions file")
        return self.predictions_dir / f"{label}.json"

    def write_predictions(self, label: str, rows: dict[str, Any]) -> None:
        """Store one model's report-row predictions (replaced atomically)."""
        self.predictions_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.predictions_path(label), json.dumps(rows))

    def read_predictions(self, label: str) -> dict[str, Any] | None:
        """The stored report-row predictions of ``label``, or None when none were kept."""
        path = self.predictions_path(label)
        if not path.is_file():
            return None
        return read_json(path, predictions_remedy(self.name))
