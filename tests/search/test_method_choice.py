"""A study that chooses its merge method per trial (``merge.method: [...]``): a hierarchical
Ax space, every listed method's paper defaults as warm-start arms, each trial recorded with
the method that merged it, and resume and export that keep it."""

from __future__ import annotations

import json

import pytest

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.search.records import load_records
from bomerge.search.study.store import StudyStore
from tests.conftest import cross_task_dict, write_config
from tests.helpers import (
    assert_one_line_error,
    assert_tables_read_as_ax_decodes,
    bomerge_here,
    log_lines,
)

METHODS = ["task_arithmetic", "ties", "wudi", "tsv"]


def choice_config(cross_task_root, tiny_cross_task_candidates, tmp_path, trials: int = 3) -> dict:
    paths, base = tiny_cross_task_candidates
    raw = cross_task_dict(cross_task_root, tmp_path / "studies", paths, base, "choice",
                          trials=trials, objectives="average")
    raw["search"]["initial_trials"] = 3
    raw["merge"] |= {"method": METHODS,
                     "options": {"task_arithmetic": {"per_candidate": True}, "wudi": {"steps": 20}}}
    return raw


def test_a_method_choice_study_searches_methods_records_each_and_exports_the_chosen_one(
        cross_task_root, tiny_cross_task_candidates, tmp_path, capsys):
    raw = choice_config(cross_task_root, tiny_cross_task_candidates, tmp_path)
    config = write_config(tmp_path / "choice.yaml", raw)
    run = bomerge_here(capsys, "study", "run", str(config), "-q")
    assert run.returncode == 0, run.stderr
    store = StudyStore(tmp_path / "studies" / "choice")
    log = log_lines(store.log_path)
    # every listed method's paper defaults are an arm of the study, under its own name
    arms = {e["arm"]: e for e in log}
    for name in METHODS:
        assert arms[name]["node"] == "baseline"
    assert_tables_read_as_ax_decodes(store)  # a choice parameter and its dependents
    records = {r.index: r for r in load_records(store)}
    assert {r.method for r in records.values()} >= set(METHODS)
    searched = [r for r in records.values() if r.node != "baseline"]
    assert len(searched) == 3
    for record in records.values():
        # each trial names the method that merged it and only that method's variables
        assert record.method in METHODS + ["weights"]
        assert not any(":" in name for name in record.coefficients)
    assert set(records[arms["ties"]["trial"]].coefficients) == {"density", "lambda"}
    assert set(records[arms["task_arithmetic"]["trial"]].coefficients) == {
        f"lambda_{i}" for i in range(3)}

    table = json.loads(bomerge_here(capsys, "study", "pareto", "choice", "--all", "--json",
                                    "--studies-dir", str(tmp_path / "studies")).stdout)
    assert {row["method"] for row in table["trials"]} >= set(METHODS)

    # resume continues the numbering in the same mixed space, now with the mixed GP
    resumed = bomerge_here(capsys, "study", "resume", "choice", "--trials", "1", "-q",
                           "--studies-dir", str(tmp_path / "studies"))
    assert resumed.returncode == 0, resumed.stderr
    resumed_log = log_lines(store.log_path)
    assert [e["trial"] for e in resumed_log] == list(range(len(log) + 1))
    assert resumed_log[-1]["node"] == "qLogNEHVI"

    # a search trial exports as the method that merged it, with its own options
    trial = searched[-1]
    out = tmp_path / "merged"
    exported = bomerge_here(capsys, "study", "export", "choice", str(out), "--trial",
                            str(trial.index), "-q", "--studies-dir", str(tmp_path / "studies"))
    assert exported.returncode == 0, exported.stderr
    provenance = json.loads((out / "bomerge_merge.json").read_text())
    assert provenance["method"] == trial.method
    assert provenance["coefficients"] == trial.coefficients
    scored = json.loads(bomerge_here(
        capsys, "eval", str(out / "sst2"), "--study", "choice", "--task", "sst2", "--part",
        "selection", "--json", "--studies-dir", str(tmp_path / "studies")).stdout)
    assert scored["loss"] == pytest.approx(trial.extra["sst2_loss"], rel=1e-5)


def test_bad_method_lists_are_refused_when_the_config_is_read(
        cross_task_root, tiny_cross_task_candidates, tmp_path, capsys):
    raw = choice_config(cross_task_root, tiny_cross_task_candidates, tmp_path)
    for merge, message in [
        ({"method": ["ties", "ties"]}, "lists 'ties' twice"),
        ({"method": ["ties", "wudi"], "options": {"mats": {}}}, "'mats' is not in merge.method"),
        ({"method": ["ties", "wudi"], "options": {"ties": 0.2}}, "as a section"),
        ({"method": ["ties", "wudi"], "encoding": "constrained"}, "hierarchical"),
        ({"method": []}, "empty list"),
    ]:
        with pytest.raises(BomergeError, match=message):
            parse_config(raw | {"merge": raw["merge"] | merge}, "choice.yaml", tmp_path)
    config = write_config(tmp_path / "bad.yaml", raw | {"merge": raw["merge"] | {
        "method": ["ties", "wudi"], "options": {"wudi": {"stepz": 3}}}})
    assert_one_line_error(bomerge_here(capsys, "study", "run", str(config)), "bad.yaml",
                           "unknown key 'merge.options.stepz' for method 'wudi'")
    assert not (tmp_path / "studies" / "choice").exists()


def test_a_batch_of_method_choice_trials_comes_from_one_call_in_the_mixed_space(
        cross_task_root, tiny_cross_task_candidates, tmp_path, capsys):
    raw = choice_config(cross_task_root, tiny_cross_task_candidates, tmp_path, trials=6)
    raw["search"] |= {"overlap": True, "batch_size": 2}
    run = bomerge_here(capsys, "study", "run", str(write_config(tmp_path / "c.yaml", raw)), "-q")
    assert run.returncode == 0, run.stderr
    store = StudyStore(tmp_path / "studies" / "choice")
    searched = [r for r in load_records(store) if r.node != "baseline"]
    assert len(searched) == 6
    assert [r.node for r in searched[-2:]] == ["qLogNEHVI"] * 2
    for record in searched[-2:]:  # each with its own method's variables
        assert record.method in METHODS
        assert not any(":" in name for name in record.coefficients)
    # the batch is one generation call: its two trials carry the call's one timing
    runs = [store.read_experiment().trials[r.index].generator_runs[0] for r in searched[-2:]]
    assert runs[0].gen_time == runs[1].gen_time and runs[0].fit_time == runs[1].fit_time
    assert_tables_read_as_ax_decodes(store)
