"""The study's answer is the best merge it scored: with ``search.pick_from: all`` (the
default) a recipe recorded beside the trials (``bomerge baseline``) can be the pick; the
result, the Pareto table, the verdict and ``study export --pick`` then all name it, and the
export rebuilds it exactly as it was scored."""

from __future__ import annotations

import json

import pytest

from tests.conftest import tiny_study_dict, write_config
from tests.helpers import bomerge_here


def weak_study(glue_root, tiny_candidates, tmp_path, **search) -> tuple:
    """A task-arithmetic study whose only trial is λ = 0: the untrained start point, far
    below any soup of the trained snapshots."""
    data = tiny_study_dict(glue_root, tmp_path / "studies", name="weak", trials=0,
                           baselines=False, points=[{"lambda": 0.0}], **search)
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in tiny_candidates],
                          "base": str(tiny_candidates[0].parent / "base")}
    data["merge"] = {"method": "task_arithmetic"}
    return write_config(tmp_path / "weak.yaml", data), ["--studies-dir", str(tmp_path / "studies")]


def test_a_baseline_recorded_after_the_study_becomes_its_pick_and_exports_as_scored(
        glue_root, tiny_candidates, tmp_path, capsys):
    config, where = weak_study(glue_root, tiny_candidates, tmp_path)
    assert bomerge_here(capsys, "study", "run", str(config), "-q").returncode == 0
    study = tmp_path / "studies" / "weak"
    before = json.loads((study / "result.json").read_text())
    assert before["scores"]["pick"]["arm"] == "point_1"

    added = bomerge_here(capsys, "baseline", str(config), "--only", "uniform", "-q")
    assert added.returncode == 0, added.stderr
    result = json.loads((study / "result.json").read_text())
    pick = result["scores"]["pick"]
    uniform = json.loads(next(line for line in (study / "baselines.jsonl").read_text().splitlines()
                              if json.loads(line)["label"] == "uniform"))
    assert (pick["arm"], pick["trial"], pick["method"]) == ("uniform", None, "weights")
    assert pick["options"] == {}  # the options it was merged with (weights has none)
    assert pick["report"] == uniform["report"]
    # the pick among the trials alone is kept, scored on the report rows and compared
    assert result["picks"]["trials"]["arm"] == "point_1"
    against = result["claims"]["against"]
    assert against["trials_pick"]["verdict"] == "better"
    assert "uniform" not in against  # the pick is not compared with itself

    table = bomerge_here(capsys, "study", "pareto", "weak", *where)
    assert table.stdout.splitlines()[0].startswith("The study recommends the recipe 'uniform'")
    assert "Pick: baseline 'uniform' (weights)" in table.stdout
    listing = json.loads(bomerge_here(capsys, "study", "pareto", "weak", "--json", *where).stdout)
    assert ((listing["pick"], listing["pick_arm"], listing["pick_method"])
            == (None, "uniform", "weights"))

    # a resume re-picks among the same merges and keeps the recipe
    assert bomerge_here(capsys, "study", "resume", "weak", "-q", *where).returncode == 0
    assert json.loads((study / "result.json").read_text())["scores"]["pick"]["arm"] == "uniform"

    out = tmp_path / "merged"
    assert bomerge_here(capsys, "study", "export", "weak", str(out), "--pick", "-q",
                        *where).returncode == 0
    provenance = json.loads((out / "bomerge_merge.json").read_text())
    assert ((provenance["arm"], provenance["method"], provenance["trial"])
            == ("uniform", "weights", None))
    assert provenance["chosen_by"] != "asked for"
    scored = json.loads(bomerge_here(capsys, "eval", str(out), "--study", "weak", "--part",
                                     "selection", "--json", *where).stdout)
    assert scored["accuracy"] == pytest.approx(uniform["selection"]["metric"], abs=1e-12)


def test_pick_from_trials_keeps_the_pick_among_the_studys_own_trials(
        glue_root, tiny_candidates, tmp_path, capsys):
    config, _ = weak_study(glue_root, tiny_candidates, tmp_path, pick_from="trials")
    assert bomerge_here(capsys, "study", "run", str(config), "-q").returncode == 0
    assert bomerge_here(capsys, "baseline", str(config), "--only", "uniform", "-q").returncode == 0
    result = json.loads((tmp_path / "studies" / "weak" / "result.json").read_text())
    assert result["scores"]["pick"]["arm"] == "point_1"
    assert result["claims"]["against"]["uniform"]["verdict"] == "worse"
    assert "trials" not in result["picks"]  # the pick is a trial: nothing more to compare
