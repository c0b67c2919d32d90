"""The study directory: the single source of truth for a study.

``studies/NAME/`` holds

* ``config.yaml`` — the validated config, paths made absolute (what ``resume`` reruns);
* ``study.json`` — format version, seed, storage URL, the candidate folders;
* ``ax.sqlite`` — the Ax experiment and generation strategy (Ax's SQL storage); a
  ``storage.url`` in the config puts them on a shared database server instead;
* ``selection_order.json`` — the fixed order of the selection rows and the chunks trials are
  scored in (``search.early_stopping``);
* ``trials.jsonl`` — a human-readable line per finished trial;
* ``result.json`` — the pick and its score on the report rows, once the study finishes;
* ``predictions/`` — per report row, the prediction, label and head of each model scored on
  the report rows (``LABEL.json``: a baseline's label, or ``trial_N``), for row-level
  comparisons (paired bootstrap intervals) without evaluating again;
* ``candidates/`` — checkpoints trained for the study, when the config has a ``train:`` part.

Ax commits each trial to the database as it is completed, so a crash loses at most the trial
in flight, and that trial is re-run on resume.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bomerge.config import StudyConfig, dump_config, load_config
from bomerge.errors import BomergeError
from bomerge.fileio import append_jsonl, atomic_write, read_jsonl
from bomerge.search.axlog import quiet_ax

FORMAT_VERSION = 1
STUDIES_DIR_ENV = "BOMERGE_STUDIES_DIR"


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


class StudyStore:
    """Files of one study directory, and its Ax database."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

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
            raise BomergeError(
                f"no study named '{name}' in {store.directory.parent} "
                f"(see `bomerge study list`)"
            )
        return store

    def create(self, config: StudyConfig) -> None:
        """Write the config snapshot and metadata of a new study."""
        self.refuse_existing()
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self.config_path, dump_config(config))
        url = config.storage.url or f"sqlite:///{(self.directory / 'ax.sqlite').resolve()}"
        meta = StudyMeta(
            format_version=FORMAT_VERSION,
            name=config.name,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            seed=config.seed,
            storage_url=url,
            candidates=[],
            selection_chunks=config.search.early_stopping.chunks,
        )
        self.write_meta(meta)

    def refuse_existing(self) -> None:
        if self.exists():
            raise BomergeError(
                f"study '{self.name}' already exists in {self.directory}; continue it with "
                f"`bomerge study resume {self.name}` or choose another name"
            )

    def read_meta(self) -> StudyMeta:
        """The study's metadata; refuses a file this version of bomerge cannot read."""
        try:
            data = json.loads(self.meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BomergeError(f"{self.meta_path}: not valid JSON ({error})") from None
        version = data.get("format_version") if isinstance(data, dict) else None
        if not isinstance(version, int):
            raise BomergeError(f"{self.meta_path}: no integer 'format_version'; not a bomerge study")
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
        return StudyMeta(**data)

    def write_meta(self, meta: StudyMeta) -> None:
        atomic_write(self.meta_path, json.dumps(asdict(meta), indent=2))

    def read_config(self) -> StudyConfig:
        return load_config(self.config_path)

    def append_log(self, record: dict[str, Any]) -> None:
        append_jsonl(self.log_path, record)

    def read_log(self) -> list[dict[str, Any]]:
        return read_jsonl(self.log_path)

    def logged_trials(self) -> set[int]:
        return {record["trial"] for record in self.read_log()}

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
        return json.loads(self.result_path.read_text()) if self.result_path.is_file() else None

    @property
    def references_path(self) -> Path:
        """Each task's individual-model metric per part of the rows (cross-task studies)."""
        return self.directory / "references.json"

    def read_references(self) -> dict[str, Any]:
        path = self.references_path
        return json.loads(path.read_text()) if path.is_file() else {}

    def write_references(self, references: dict[str, Any]) -> None:
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
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BomergeError(f"{path}: not valid JSON ({error})") from None

    def connect(self) -> str:
        """Point Ax's SQL storage at this study's database, creating its tables once."""
        from ax.storage.sqa_store.db import (
            create_all_tables,
            get_engine,
            init_engine_and_session_factory,
        )

        quiet_ax()
        url = self.read_meta().storage_url
        postgresql_text_without_length()
        # Ax keeps one global engine; a process may open several studies in turn.
        try:
            init_engine_and_session_factory(url=url, force_init=True)
            create_all_tables(get_engine())
        except Exception as error:  # noqa: BLE001 - any driver or server failure, one line
            raise BomergeError(storage_error(url, error)) from None
        return url


def storage_error(url: str, error: BaseException) -> str:
    shown = _hide_password(url)
    if isinstance(error, ModuleNotFoundError):
        return (f"storage.url {shown}: the database driver '{error.name}' is not installed "
                "(pip install 'bomerge[postgres]' for PostgreSQL)")
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return f"storage.url {shown}: cannot use the database ({reason})"


def check_storage(url: str | None) -> None:
    """Connect once to a configured database server, so a wrong URL or a server that is
    down is refused before any study files are written."""
    if url is None:
        return
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as error:  # noqa: BLE001
        raise BomergeError(storage_error(url, error)) from None


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url


def postgresql_text_without_length() -> None:
    """Ax's SQL schema sizes columns for MySQL: ``Text(4294967295)`` (LONGTEXT), which
    PostgreSQL rejects ("type modifier is not allowed for type text", facebook/Ax#283), and
    ``String(4294967295)``, beyond PostgreSQL's VARCHAR limit. PostgreSQL's TEXT is
    unbounded, so for that dialect only those columns are made plain TEXT."""
    global _TEXT_COMPILER_REGISTERED
    if _TEXT_COMPILER_REGISTERED:
        return
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.types import String, Text

    @compiles(Text, "postgresql")
    def _unbounded_text(element: Text, compiler: Any, **kw: Any) -> str:
        return "TEXT"

    @compiles(String, "postgresql")
    def _long_string(element: String, compiler: Any, **kw: Any) -> str:
        if element.length is not None and element.length > POSTGRESQL_VARCHAR_MAX:
            return "TEXT"
        return compiler.visit_string(element, **kw)

    _TEXT_COMPILER_REGISTERED = True


_TEXT_COMPILER_REGISTERED = False
POSTGRESQL_VARCHAR_MAX = 10_485_760
