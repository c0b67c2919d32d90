"""bomerge.search.study.database: reading a study's SQLite file never writes to it, even when a
killed writer left a hot journal that SQLite must roll back first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bomerge.search.study.database import readable_sqlite
from tests.helpers import leave_hot_journal


def test_a_hot_journal_is_rolled_back_in_a_copy_and_the_files_stay_as_they_are(
        tmp_path: Path):
    path = tmp_path / "ax.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE trials(x)")
        connection.executemany("INSERT INTO trials VALUES (?)", [(i,) for i in range(10)])
    connection.close()
    leave_hot_journal(path)
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    try:  # what a plain read-only reader meets
        sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(
            "SELECT count(*) FROM trials").fetchall()
        raise AssertionError("SQLite read a file with a hot journal read-only")
    except sqlite3.OperationalError as error:
        assert "readonly" in str(error)

    with readable_sqlite(path) as uri:
        reader = sqlite3.connect(uri, uri=True)
        tables = {row[0] for row in reader.execute("SELECT name FROM sqlite_master")}
        count = reader.execute("SELECT count(*) FROM trials").fetchone()[0]
        reader.close()
    assert (tables, count) == ({"trials"}, 10)  # the state before the unfinished write
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files


def test_a_file_without_a_journal_is_opened_read_only_in_place(tmp_path: Path):
    path = tmp_path / "ax.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE trials(x)").connection.close()
    with readable_sqlite(path) as uri:
        assert uri == f"file:{path}?mode=ro"
        reader = sqlite3.connect(uri, uri=True)
        try:
            reader.execute("INSERT INTO trials VALUES (1)")
            raise AssertionError("a reader wrote")
        except sqlite3.OperationalError as error:
            assert "readonly" in str(error)
        finally:
            reader.close()
