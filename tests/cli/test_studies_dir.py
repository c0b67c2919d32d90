"""One rule for where studies live, for every command: ``--studies-dir``, else the config's
explicit ``studies_dir``, else ``$BOMERGE_STUDIES_DIR``, else ./studies
(bomerge.search.study.store.resolve_studies_dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bomerge.config import parse_config
from bomerge.search.study.store import STUDIES_DIR_ENV, StudyStore, resolve_studies_dir
from tests.conftest import tiny_study_dict, write_config
from tests.helpers import assert_one_line_error, bomerge_here


def _config_dict(glue_root: Path, studies_dir: Path | None, name: str = "where") -> dict:
    """A tiny study dict; without ``studies_dir`` when it is None (the key absent)."""
    data = tiny_study_dict(glue_root, studies_dir or Path("unused"), name=name)
    if studies_dir is None:
        del data["studies_dir"]
    return data


def _fake_study(folder: Path, config: dict) -> None:
    """A created study with no trials: enough for the refusals that run before any work."""
    from bomerge.config import parse_config
    from bomerge.search.study.store import StudyStore

    StudyStore(folder).create(parse_config(config, "fake", folder.parent))


@pytest.fixture()
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Three distinct candidate folders, the variable pointing at one of them, and a working
    directory whose ./studies must stay untouched."""
    named = {k: tmp_path / k for k in ("flag", "key", "env")}
    monkeypatch.setenv(STUDIES_DIR_ENV, str(named["env"]))
    monkeypatch.chdir(tmp_path)
    return named


def test_flag_beats_the_configs_explicit_key_which_beats_the_variable(glue_root, places):
    explicit = parse_config(_config_dict(glue_root, places["key"]), "test", Path("."))
    implicit = parse_config(_config_dict(glue_root, None), "test", Path("."))
    assert resolve_studies_dir(places["flag"], explicit) == places["flag"]
    assert resolve_studies_dir(None, explicit) == places["key"]
    # the field's default (./studies) is not an explicit key: the variable wins over it
    assert implicit.studies_dir == Path("studies")
    assert resolve_studies_dir(None, implicit) == places["env"]
    assert resolve_studies_dir(None) == places["env"]
    assert resolve_studies_dir(places["flag"]) == places["flag"]


def test_without_flag_key_or_variable_studies_live_in_dot_studies(glue_root, monkeypatch):
    implicit = parse_config(_config_dict(glue_root, None), "test", Path("."))
    monkeypatch.delenv(STUDIES_DIR_ENV, raising=False)
    assert resolve_studies_dir(None, implicit) == Path("studies")
    monkeypatch.setenv(STUDIES_DIR_ENV, "")  # set but empty counts as unset
    assert resolve_studies_dir(None) == Path("studies")


def test_locate_looks_in_the_variables_folder(places):
    (places["env"] / "s").mkdir(parents=True)
    (places["env"] / "s" / "study.json").write_text("{}")
    assert StudyStore.locate("s").directory == places["env"] / "s"
    with pytest.raises(Exception, match="no study named 's'"):
        StudyStore.locate("s", places["flag"])


@pytest.mark.parametrize("flag, key, where", [
    (True, True, "flag"),    # --studies-dir beats the config's key
    (False, True, "key"),    # the config's key beats the variable
    (False, False, "env"),   # the variable, when the config has no key
])
def test_study_run_and_baseline_resolve_the_folder_by_the_rule(glue_root, places, capsys,
                                                                flag, key, where):
    data = _config_dict(glue_root, places["key"] if key else None)
    config = write_config(places["key"].parent / "where.yaml", data)
    args = ["--studies-dir", str(places["flag"])] if flag else []
    # A study already in the resolved folder is refused before any work, naming the folder.
    _fake_study(places[where] / "where", data | {"seed": 1})
    run = bomerge_here(capsys, "study", "run", str(config), *args)
    assert_one_line_error(run, "already exists in", str(places[where] / "where"))
    base = bomerge_here(capsys, "baseline", str(config), *args)
    assert_one_line_error(base, f"exists in {places[where] / 'where'} with another config")
    assert not Path("studies").exists()


def test_a_study_run_with_the_variable_set_is_found_by_resume_and_list(
    glue_root, tiny_candidates, places, capsys
):
    data = _config_dict(glue_root, None)
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in tiny_candidates]}
    data["search"].update(trials=1, initial_trials=1)
    config = write_config(places["key"].parent / "where.yaml", data)

    run = bomerge_here(capsys, "study", "run", str(config), "-q")
    assert run.returncode == 0, run.stderr
    study = places["env"] / "where"
    assert StudyStore(study).exists() and not Path("studies").exists()
    # the snapshot records where the study lives
    assert StudyStore(study).read_config().studies_dir == places["env"]

    resumed = bomerge_here(capsys, "study", "resume", "where", "--trials", "1", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert "Chosen merge" in resumed.stdout
    searched = [t for t in json.loads(bomerge_here(capsys, "study", "pareto", "where", "--all",
                                                   "--json").stdout)["trials"]
                if t["node"] != "baseline"]
    assert len(searched) == 2
    listing = bomerge_here(capsys, "study", "list")
    assert "where" in listing.stdout and "finished" in listing.stdout
