"""The study store on a real PostgreSQL server (storage.url): a study runs there, resumes
there with its trial numbering continued, and nothing goes to a local SQLite file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import tiny_study_dict, write_config
from tests.helpers import bomerge_here
from tests.postgres import postgres_bin, postgres_server


@pytest.fixture(scope="module")
def postgres_url():
    if postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's postgresql (.ci/run installs it)")
        pytest.skip("no PostgreSQL server on this machine (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="pip install 'bomerge[postgres]'")
    with postgres_server() as url:
        yield url


def test_a_study_runs_and_resumes_on_postgresql(
    postgres_url, glue_root, tiny_candidates, tmp_path, capsys
):
    import sqlalchemy

    studies = tmp_path / "studies"
    data = tiny_study_dict(glue_root, studies, name="shared", trials=2, initial_trials=2)
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in tiny_candidates]}
    data["storage"] = {"url": postgres_url}
    config = write_config(tmp_path / "shared.yaml", data)

    first = bomerge_here(capsys, "study", "run", str(config), "-q")
    assert first.returncode == 0, first.stderr
    where = ["--studies-dir", str(studies)]
    resumed = bomerge_here(capsys, "study", "resume", "shared", "--trials", "2", "-q", *where)
    assert resumed.returncode == 0, resumed.stderr

    listing = json.loads(bomerge_here(capsys, "study", "pareto", "shared", "--all", "--json",
                                      *where).stdout)
    indices = [t["index"] for t in listing["trials"]]
    assert indices == list(range(8))  # 3 candidates + uniform, 2 searched, 2 more on resume
    assert all(t["status"] == "COMPLETED" for t in listing["trials"])
    assert not list(Path(studies / "shared").glob("*.sqlite"))
    assert (json.loads((studies / "shared" / "study.json").read_text())["storage_url"]
            == postgres_url)

    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as connection:  # the trials really live in the server
        rows = connection.execute(sqlalchemy.text(
            "select count(*) from trial_v2 t join experiment_v2 e on t.experiment_id = e.id "
            "where e.name = 'shared'")).scalar()
    engine.dispose()
    assert rows == 8


def test_an_unreachable_server_is_a_one_line_error(glue_root, tiny_candidates, tmp_path, capsys):
    pytest.importorskip("psycopg")
    data = tiny_study_dict(glue_root, tmp_path / "studies", name="nowhere")
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in tiny_candidates]}
    data["storage"] = {"url": "postgresql+psycopg://postgres@127.0.0.1:9/bomerge"}
    result = bomerge_here(capsys, "study", "run", str(write_config(tmp_path / "n.yaml", data)))
    assert result.returncode == 2, result.stderr
    assert "storage.url" in result.stderr and "127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
