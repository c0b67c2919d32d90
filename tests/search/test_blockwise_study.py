"""A block-wise study end to end: one simplex per group (embeddings, blocks of encoder
layers, head), the model-level recipes attached as arms of the block space, resume, export
of a block trial, and the bad settings refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from tests.conftest import write_config
from tests.helpers import assert_one_line_error, bomerge_here, log_lines

GROUPS = ("embeddings", "block0", "block1", "head")


def block_study(glue_root: Path, candidates: list[Path], tmp_path: Path, **merge) -> Path:
    return write_config(tmp_path / "blocks.yaml", {
        "name": "blocks", "studies_dir": str(tmp_path / "studies"), "seed": 0, "device": "cpu",
        "task": {"name": "sst2", "max_length": 24, "data": {"root": str(glue_root), "hub": False}},
        "candidates": {"paths": [str(p) for p in candidates]},
        "merge": {"granularity": "block", "blocks": 2, **merge},
        "search": {"trials": 3, "initial_trials": 2, "num_restarts": 2, "raw_samples": 32},
    })


def test_a_block_study_searches_one_simplex_per_group_and_resumes(glue_root, tiny_candidates,
                                                                   tmp_path, capsys):
    config = block_study(glue_root, tiny_candidates, tmp_path)
    run = bomerge_here(capsys, "study", "run", str(config), "-q")
    assert run.returncode == 0, run.stderr
    log = log_lines(tmp_path / "studies" / "blocks" / "trials.jsonl")
    for entry in log:
        assert set(entry["coefficients"]) == {f"{g}__w" for g in GROUPS}
        assert all(abs(sum(w) - 1) < 1e-5 for w in entry["coefficients"].values())
    arms = {e["arm"]: e for e in log}
    # the model-level recipes are points of the block space: the same weights in every group
    uniform = arms["uniform"]["coefficients"]
    assert all(np.allclose(w, [1 / 3] * 3, atol=1e-5) for w in uniform.values())
    assert all(np.allclose(w, [1, 0, 0], atol=1e-5)
               for w in arms["candidate_0"]["coefficients"].values())
    searched = [e for e in log if e["node"] not in ("baseline",)]
    assert len(searched) == 3 and searched[-1]["node"] == "qLogNEHVI"
    # a search trial's groups differ (the space is really per group)
    assert any(not np.allclose(searched[0]["coefficients"]["embeddings__w"],
                               searched[0]["coefficients"][f"{g}__w"]) for g in GROUPS[1:])

    where = ["--studies-dir", str(tmp_path / "studies")]
    resumed = bomerge_here(capsys, "study", "resume", "blocks", "--trials", "1", "-q", *where)
    assert resumed.returncode == 0, resumed.stderr
    after = log_lines(tmp_path / "studies" / "blocks" / "trials.jsonl")
    assert after[: len(log)] == log and after[-1]["trial"] == log[-1]["trial"] + 1

    index = searched[0]["trial"]
    out = tmp_path / "merged"
    exported = bomerge_here(capsys, "study", "export", "blocks", str(out), "--trial", str(index),
                            "-q", *where)
    assert exported.returncode == 0, exported.stderr
    scored = json.loads(bomerge_here(capsys, "eval", str(out), "--study", "blocks", "--part",
                                     "selection", "--json", *where).stdout)
    assert (scored["loss"], scored["accuracy"]) == (searched[0]["loss"], searched[0]["metric"])


def test_bad_block_settings_stop_before_any_work(glue_root, tiny_candidates, tmp_path, capsys):
    too_many = block_study(glue_root, tiny_candidates, tmp_path, blocks=3)
    assert_one_line_error(bomerge_here(capsys, "study", "run", str(too_many)),
                           "merge.blocks: 3 blocks for an encoder of 2 layers (use 1 to 2)")
    no_groups = block_study(glue_root, tiny_candidates, tmp_path, method="localize_stitch")
    no_groups.write_text(no_groups.read_text().replace(
        "candidates:\n", f"candidates:\n  base: {tiny_candidates[0]}\n"))
    assert_one_line_error(bomerge_here(capsys, "study", "run", str(no_groups)),
                           "'localize_stitch' has no per-group coefficients")
    raw = yaml.safe_load(too_many.read_text())
    raw["merge"] = {"granularity": "layer", "blocks": 2}
    assert_one_line_error(bomerge_here(capsys, "study", "run",
                                        str(write_config(tmp_path / "x.yaml", raw))),
                           "merge.blocks applies to merge.granularity 'block'")
    assert not (tmp_path / "studies" / "blocks").exists()
