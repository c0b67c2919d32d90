"""A cross-task study end to end: per-task objectives with a floor, the cross-task baselines
(each task's individual model, task arithmetic at its grid-best λ), the pick above the
floor, one exported folder per task that scores like the trial, and the bad settings
refused before any work."""

from __future__ import annotations

import json

import pytest

from bomerge.config import parse_config
from bomerge.merge import build_method
from bomerge.search.baselines import TA_GRID_SCALES
from bomerge.search.client import study_design
from bomerge.search.preflight import check_objectives
from bomerge.search.records import above_floors, study_objectives, study_pick
from bomerge.search.space import study_space
from tests.conftest import CROSS_TASKS, cross_task_dict, write_config
from tests.helpers import assert_one_line_error, bomerge_here, log_lines

FLOOR = 0.9


def test_a_per_task_study_with_a_floor_records_the_references_and_exports_each_task(
        cross_task_root, tiny_cross_task_candidates, tmp_path, capsys):
    paths, base = tiny_cross_task_candidates
    # the pick among the trials (search.pick_from: trials): floors and the export of a trial
    # are what this test specifies; recipes beside the trials are tests/search/test_pick_from.py's
    raw = cross_task_dict(cross_task_root, tmp_path / "studies", paths, base, trials=2,
                          objectives="per_task", floors={"sst2": FLOOR}, warm_start=True,
                          pick_from="trials")
    raw["baselines"] = ["candidates", "individual", "task_arithmetic_grid"]
    raw["merge"] |= {"method": "task_arithmetic", "options": {"per_candidate": True}}
    config = write_config(tmp_path / "cross.yaml", raw)
    run = bomerge_here(capsys, "study", "run", str(config), "-q")
    assert run.returncode == 0, run.stderr
    study = tmp_path / "studies" / "cross"
    baselines = {b["label"]: b
                 for b in map(json.loads, (study / "baselines.jsonl").read_text().splitlines())}
    individual = baselines["individual"]
    assert individual["selection"]["metric"] == pytest.approx(1.0)
    assert individual["report"]["metric"] == pytest.approx(1.0)
    references = json.loads((study / "references.json").read_text())
    assert references["selection"] == {t: individual["selection"][t] for t in CROSS_TASKS}
    grid = baselines["task_arithmetic_grid"]
    assert grid["method"] == "task_arithmetic" and grid["coefficients"]["lambda"] in TA_GRID_SCALES

    result = json.loads((study / "result.json").read_text())
    log = {e["trial"]: e for e in log_lines(study / "trials.jsonl")}
    pick = log[result["picks"]["observed"]["trial"]]
    feasible = [e for e in log.values() if e.get("sst2_normalised", 0) >= FLOOR]
    # the pick is above the floor whenever any trial is, and result.json says which it was
    assert result["pick_above_floors"] == bool(feasible) == (pick["sst2_normalised"] >= FLOOR)
    assert result["floors"] == {"sst2": FLOOR}
    assert {"sst2", "stsb", "rte", "absolute"} <= set(pick)
    # the claims are on the normalised average the table shows: the individual models are 1
    against = result["claims"]["against"]["individual"]
    reported = result["picks"]["observed"]["report"]["metric"]
    assert against["difference"] == pytest.approx(reported - 1.0, abs=1e-6)

    out = tmp_path / "merged"
    where = ["--studies-dir", str(tmp_path / "studies")]
    exported = bomerge_here(capsys, "study", "export", "cross", str(out), "-q", *where)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((out / "bomerge_merge.json").read_text())["tasks"] == {
        t: f"{t}/" for t in CROSS_TASKS}
    for task in CROSS_TASKS:
        scored = json.loads(bomerge_here(
            capsys, "eval", str(out / task), "--study", "cross", "--task", task, "--part",
            "selection", "--json", *where).stdout)
        assert scored["loss"] == pytest.approx(pick[f"{task}_loss"], rel=1e-5)
        # the same rows and predictions (a correlation may differ in its last bit: row order)
        assert scored[_metric(task)] == pytest.approx(pick[task], rel=1e-12)
    # the grid baseline is rebuilt with the options it was scored with (one λ), not the
    # study's (one λ per task vector)
    grid_out = tmp_path / "grid"
    exported = bomerge_here(capsys, "study", "export", "cross", str(grid_out), "--baseline",
                            "task_arithmetic_grid", "-q", *where)
    assert exported.returncode == 0, exported.stderr
    scored = json.loads(bomerge_here(capsys, "eval", str(grid_out / "sst2"), "--study", "cross",
                                     "--task", "sst2", "--part", "selection", "--json",
                                     *where).stdout)
    assert scored["accuracy"] == grid["selection"]["sst2"]
    assert_one_line_error(bomerge_here(capsys, "eval", str(grid_out / "sst2"), "--study",
                                        "cross", *where), "give --task with one of them")
    assert_one_line_error(bomerge_here(capsys, "study", "export", "cross", str(tmp_path / "i"),
                                        "--baseline", "individual", *where),
                           "'individual' is each task's own candidate, not one merge")


def _metric(task: str) -> str:
    from bomerge.tasks import get_task

    return get_task(task).metric


def test_floors_become_outcome_constraints_and_bound_the_pick(cross_task_root,
                                                              tiny_cross_task_candidates, tmp_path):
    paths, base = tiny_cross_task_candidates
    raw = cross_task_dict(cross_task_root, tmp_path, paths, base, floors={"rte": 0.8, "sst2": 1.0})
    config = parse_config(raw, "test", tmp_path)
    method = build_method("weights")
    design = study_design(config, study_space(config, method, 3), study_objectives(config))
    assert design.outcome_constraints == ["rte_normalised >= 0.8", "sst2_normalised >= 1.0"]
    from bomerge.search.pareto import TrialRecord

    record = TrialRecord(index=0, arm="a", node="n", status="COMPLETED", coefficients={},
                         loss=1.0, metric=0.9,
                         extra={"rte_normalised": 0.85, "sst2_normalised": 0.99})
    assert not above_floors(record, config.search.floors)
    assert above_floors(record, {"rte": 0.8})
    feasible = TrialRecord(index=1, arm="b", node="n", status="COMPLETED", coefficients={},
                           loss=1.0, metric=0.8,
                           extra={"rte_normalised": 0.9, "sst2_normalised": 1.0})
    assert study_pick([record, feasible], config) is feasible  # best metric among the feasible
    unbounded = config.model_copy(
        update={"search": config.search.model_copy(update={"floors": {}})})
    assert study_pick([record, feasible], unbounded) is record


def test_more_per_task_objectives_than_qlognehvi_takes_need_parego(tmp_path):
    tasks = ["sst2", "mrpc", "cola", "stsb", "rte"]
    raw = {"name": "five", "task": {"name": "multi", "tasks": tasks},
           "candidates": {"paths": [], "tasks": tasks, "base": "minilm"},
           "search": {"objectives": "per_task"}}
    with pytest.raises(Exception, match="search.strategy 'gp' takes at most 4 objectives"):
        check_objectives(parse_config(raw, "test", tmp_path))
    raw["search"]["strategy"] = "parego"
    check_objectives(parse_config(raw, "test", tmp_path))


@pytest.mark.parametrize(("change", "message"), [
    ({"candidates": {"tasks": None}}, "task 'multi' needs candidates.tasks"),
    ({"search": {"floors": {"sst2": 1.5}}},
     "a floor is a fraction of the individual model's score in (0, 1]"),
    ({"search": {"floors": {"cola": 0.5}}}, "search.floors: 'cola' is not a task of this study"),
    ({"candidates": {"tasks": ["sst2", "stsb"]}}, "names 2 tasks for 3 candidates"),
    ({"candidates": {"tasks": ["sst2", "stsb", "stsb"]}}, "task 'stsb' has 2 candidates"),
    ({"candidates": {"tasks": ["stsb", "sst2", "rte"]}},
     "the head has 2 outputs, task 'stsb' needs 1"),
    ({"candidates": {"base": None}}, "task 'multi' needs candidates.base"),
])
def test_bad_cross_task_settings_stop_before_any_work(cross_task_root, tiny_cross_task_candidates,
                                                      tmp_path, capsys, change, message):
    paths, base = tiny_cross_task_candidates
    raw = cross_task_dict(cross_task_root, tmp_path / "studies", paths, base)
    for section, values in change.items():
        raw[section] = {**raw[section], **values}
    assert_one_line_error(bomerge_here(capsys, "study", "run",
                                        str(write_config(tmp_path / "bad.yaml", raw))), message)
    assert not (tmp_path / "studies" / "cross").exists()


def test_cross_task_keys_on_a_one_task_study_are_refused(glue_root, tiny_candidates, tmp_path,
                                                        capsys):
    raw = cross_task_dict(glue_root, tmp_path / "studies", tiny_candidates, tiny_candidates[0])
    raw["task"] = {"name": "sst2", "data": {"root": str(glue_root), "hub": False}}
    assert_one_line_error(bomerge_here(capsys, "study", "run",
                                        str(write_config(tmp_path / "one.yaml", raw))),
                           "candidates.tasks names each candidate's task for task 'multi'")
