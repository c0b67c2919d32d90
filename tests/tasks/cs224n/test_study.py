"""A multitask study end to end: per-task objectives (qLogNEHVI over three metrics), the
Pareto table with every task's metric, greedy soup and Fisher merging of multitask models as
baselines, and methods that do not apply refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bomerge.search.study.store import StudyStore
from tests.conftest import tiny_multitask_dict, write_config
from tests.helpers import bomerge_here


def multitask_config(cs224n_root: Path, candidates: list[Path], tmp_path: Path, **search) -> Path:
    raw = tiny_multitask_dict(cs224n_root, tmp_path / "studies", objectives="per_task", **search)
    del raw["train"]
    raw["candidates"] = {"paths": [str(p) for p in candidates]}
    return write_config(tmp_path / "multitask.yaml", raw)


def test_a_three_objective_study_records_every_task_and_picks_on_their_front(
        cs224n_root, tiny_multitask_candidates, tmp_path, capsys):
    config = multitask_config(cs224n_root, tiny_multitask_candidates, tmp_path)
    done = bomerge_here(capsys, "study", "run", str(config), "-q")
    assert done.returncode == 0, done.stderr
    assert "Pareto front (sst ↑, quora ↑, sts ↑)" in done.stdout
    assert "report quora" in done.stdout

    store = StudyStore(tmp_path / "studies" / "multitask")
    from ax.api.client import Client
    from ax.api.configs import StorageConfig

    store.connect()
    client = Client.load_from_database(
        "multitask", storage_config=StorageConfig(url=store.read_meta().storage_url))
    objectives = client._experiment.optimization_config.objective.metric_names
    assert sorted(objectives) == ["quora", "sst", "sts"]

    from bomerge.search.pareto import pareto_set
    from bomerge.search.records import load_records, study_objectives

    records = load_records(store)
    assert len(records) == 3 + 1 + 3  # candidates, uniform, search trials
    assert all({"sst", "quora", "sts"} <= set(r.extra) for r in records)
    for r in records:  # the metric is the tasks' average
        assert abs(r.metric - (r.extra["sst"] + r.extra["quora"] + r.extra["sts"]) / 3) < 1e-6
    front = pareto_set(records, study_objectives(store.read_config()))
    result = store.read_result()
    assert result["scores"]["pick"]["trial"] in {r.index for r in front}
    assert {"sst", "quora", "sts"} <= set(result["scores"]["pick"]["report"])

    shown = bomerge_here(capsys, "study", "pareto", "multitask", "--studies-dir",
                         str(tmp_path / "studies"))
    header = next(line for line in shown.stdout.splitlines() if "coefficients" in line)
    assert all(name in header for name in ("sst", "quora", "sts", "metric", "loss"))

    baselines = bomerge_here(capsys, "baseline", str(config), "--only", "greedy_soup",
                             "--only", "fisher")
    assert baselines.returncode == 0, baselines.stderr
    recorded = store.read_baselines()
    assert {"greedy_soup", "fisher"} <= set(recorded)
    assert {"sst", "quora", "sts"} <= set(recorded["fisher"]["report"])

    # the pick and a baseline of another method export as MultitaskBert folders that score
    # what the study recorded
    where = ["--studies-dir", str(tmp_path / "studies")]
    for choice, selection in ((["--pick"], result["scores"]["pick"]["selection"]),
                              (["--baseline", "fisher", "--force"],
                               recorded["fisher"]["selection"])):
        out = tmp_path / "merged"
        exported = bomerge_here(capsys, "study", "export", "multitask", str(out), *choice, "-q",
                                *where)
        assert exported.returncode == 0, exported.stderr
        assert json.loads((out / "config.json").read_text())["architectures"] == ["MultitaskBert"]
        scored = json.loads(bomerge_here(capsys, "eval", str(out), "--study", "multitask",
                                         "--part", "selection", "--json", *where).stdout)
        assert scored["loss"] == pytest.approx(selection["loss"], abs=1e-9)
        assert scored["average"] == pytest.approx(selection["metric"], abs=1e-9)


def test_methods_that_need_single_head_statistics_are_refused_for_multitask_models(
        cs224n_root, tiny_multitask_candidates, tmp_path, capsys):
    config = multitask_config(cs224n_root, tiny_multitask_candidates, tmp_path)
    text = config.read_text().replace("merge:\n", "merge:\n  method: regmean\n")
    config.write_text(text)
    refused = bomerge_here(capsys, "study", "run", str(config))
    assert refused.returncode == 2
    assert "merge method 'regmean' (options " in refused.stderr
    assert ("does not support task 'cs224n': its heads define no kfac statistics; use one of "
            in refused.stderr)
    assert not (tmp_path / "studies" / "multitask").exists()
