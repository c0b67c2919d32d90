"""Ax's SQL storage as bomerge uses it: the one global engine pointed at a study's database
(for writing, or read-only for the length of a block), SQLite URLs, and one-line messages
for a database that cannot be used."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bomerge.errors import BomergeError
from bomerge.search.ax_logging import quiet_ax
from bomerge.search.study.ax_tables import StoredTrial, read_sqlite_trials, trials_of_experiment
from bomerge.search.study.remedies import RESTORE

DATABASE = "ax.sqlite"
SQLITE = "sqlite:///"


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (relative or absolute), else None."""
    if not url.startswith(SQLITE) or url[len(SQLITE):] in ("", ":memory:"):
        return None
    return Path(url[len(SQLITE):])


@contextmanager
def readable_sqlite(path: Path) -> Iterator[str]:
    """A SQLite ``file:`` URI that reads ``path`` without writing to it.

    A process killed while writing leaves a hot journal, which SQLite rolls back before
    anyone may read the file, and a read-only connection cannot do that ("attempt to write
    a readonly database"). Then the file and its journal are copied to a temporary folder
    and the copy is read (rolled back there): the study's own files stay exactly as they
    are, for its next writer to recover.
    """
    read_only = f"file:{path}?mode=ro"
    if not _hot_journal(path, read_only):
        yield read_only
        return
    with tempfile.TemporaryDirectory(prefix="bomerge-read-") as folder:
        copy = Path(folder) / path.name
        for suffix in ("", "-journal", "-wal"):
            source = Path(f"{path}{suffix}")
            if source.is_file():
                shutil.copyfile(source, f"{copy}{suffix}")
        yield f"file:{copy}"


def _hot_journal(path: Path, read_only: str) -> bool:
    if not any(Path(f"{path}{suffix}").is_file() for suffix in ("-journal", "-wal")):
        return False
    try:
        connection = sqlite3.connect(read_only, uri=True)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            connection.close()
    except sqlite3.OperationalError as error:
        return "readonly" in str(error)
    return False


def init_ax_engine(url: str) -> None:
    """Point Ax's one global engine at ``url`` (a process may open several studies)."""
    quiet_ax()
    from ax.storage.sqa_store.db import init_engine_and_session_factory

    postgresql_text_without_length()
    try:
        init_engine_and_session_factory(url=url, force_init=True)
    except Exception as error:  # noqa: BLE001 - any driver failure, one line
        raise BomergeError(storage_error(url, error)) from None


@contextmanager
def ax_engine(url: str) -> Iterator[None]:
    """Ax's global engine pointed at ``url`` for the block, then back to the one before (a
    reader in the process of a running study must not take its writer's engine away)."""
    quiet_ax()
    from ax.storage.sqa_store import db

    previous = db.SESSION_FACTORY
    db.SESSION_FACTORY = None
    init_ax_engine(url)
    try:
        yield
    finally:
        current = db.SESSION_FACTORY
        if current is not None:
            db._bound_engine(current).dispose()
        db.SESSION_FACTORY = previous


def storage_error(url: str, error: BaseException) -> str:
    shown = hide_password(url)
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


def hide_password(url: str) -> str:
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


class StudyDatabase:
    """The database side of a study's store (``StudyStore`` mixes it in): its URL, the
    tables made with the study, opening it to write, and reading its experiment read-only."""

    directory: Path

    def read_meta(self) -> Any:
        raise NotImplementedError

    def read_config(self) -> Any:
        raise NotImplementedError

    def _resolve_url(self, url: str) -> str:
        """A stored URL made usable: a relative SQLite path is relative to the study folder,
        and a study made before paths were relative is read from its own folder."""
        path = sqlite_file(url)
        if path is None:
            return url
        origin = self._origin(url)
        path = self.directory / (DATABASE if origin is not None else path)
        return SQLITE + str(path.resolve())

    def _origin(self, url: str) -> Path | None:
        """Where a study made before paths were relative was made, when this folder is a
        copy or a move of it: such a study records its own database (and the candidates
        it trained) by absolute path, which in a copy names the original's files."""
        path = sqlite_file(url)
        if path is None or not path.is_absolute() or path.name != DATABASE:
            return None
        here = self.directory.resolve()
        if path.parent == here or not (here / DATABASE).is_file():
            return None  # its own, or another study's database it shares (bilevel)
        return path.parent

    def database_url(self) -> str:
        """The SQLAlchemy URL of the study's database (absolute)."""
        return self._resolve_url(self.read_meta().storage_url)

    def _create_tables(self, url: str) -> None:
        quiet_ax()  # before any Ax import: Ax logs at INFO while its modules import
        from ax.storage.sqa_store.db import create_all_tables, get_engine

        init_ax_engine(url)
        try:
            create_all_tables(get_engine())
        except Exception as error:  # noqa: BLE001 - any driver or server failure, one line
            raise BomergeError(storage_error(url, error)) from None

    def connect(self) -> str:
        """Point Ax's SQL storage at this study's database, for writing. The tables were
        made with the study: a SQLite file that is missing or empty is refused, never made
        again (a fresh schema would hide every recorded trial)."""
        url = self.database_url()
        self.check_database(url)
        init_ax_engine(url)
        return url

    def check_database(self, url: str) -> None:
        """Refuse a study's SQLite database that is missing, empty or holds no Ax tables."""
        path = sqlite_file(url)
        if path is None:
            return
        if not path.is_file() or path.stat().st_size == 0:
            state = "missing" if not path.is_file() else "empty (0 bytes)"
            raise BomergeError(f"{path}: {state}; {RESTORE}")

    def read_trials(self) -> list[StoredTrial]:
        """The study's trials as stored, read-only: straight from its SQLite tables when
        they are the ones ``ax_tables`` knows (milliseconds, no Ax import), else through
        Ax (another database server, another schema)."""
        url = self.database_url()
        self.check_database(url)
        path = sqlite_file(url)
        if path is not None:
            try:
                with readable_sqlite(path) as uri:
                    trials = read_sqlite_trials(uri, self.read_config().name)
            except sqlite3.DatabaseError as error:
                raise BomergeError(f"{path}: cannot read the study's trials ({error}); "
                                   f"{RESTORE}") from None
            if trials is not None:
                return trials
        experiment = self.read_experiment()
        return [] if experiment is None else trials_of_experiment(experiment)

    def read_experiment(self) -> Any | None:
        """The study's Ax experiment as stored, opened read-only (SQLite in ``mode=ro``,
        no Ax client, so nothing is saved back), or None when it has none yet."""
        url = self.database_url()
        self.check_database(url)
        path = sqlite_file(url)
        name = self.read_config().name
        try:
            if path is None:
                return _load_experiment(url, name)
            with readable_sqlite(path) as uri:
                return _load_experiment(f"{SQLITE}{uri}{'&' if '?' in uri else '?'}uri=true",
                                        name)
        except BomergeError:
            raise
        except Exception as error:  # noqa: BLE001 - a damaged file or an unreachable server
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
            where = path if path is not None else hide_password(url)
            raise BomergeError(f"{where}: cannot read the study's trials ({reason}); "
                               f"{RESTORE}") from None


def _load_experiment(url: str, name: str) -> Any | None:
    with ax_engine(url):
        from ax.exceptions.core import ObjectNotFoundError
        from ax.storage.sqa_store.load import load_experiment

        try:
            return load_experiment(name)
        except ObjectNotFoundError:
            return None
