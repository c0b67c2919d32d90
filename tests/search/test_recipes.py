"""Candidates from several training recipes (``recipes:`` + ``candidates.recipes``): each
recipe is the ``train:`` section with some keys replaced, trained once into
``candidates/NAME``; the study merges every recipe's kept snapshots, and a resume or a
second study trains nothing again. Bad recipes are refused before any training."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bomerge.config import load_config, parse_config
from bomerge.errors import BomergeError
from bomerge.fileio import read_jsonl
from bomerge.search.records import load_records
from bomerge.search.runner import StudyRunner
from bomerge.search.study.store import StudyStore
from bomerge.search.workbench import base_folder
from tests.conftest import tiny_study_dict

RECIPES = {"fast": {"learning_rate": 4e-3, "keep_last": 1},
           "slow": {"learning_rate": 1e-3, "keep_last": 2, "seed": 1}}


def recipe_study(glue_root: Path, studies: Path, name: str = "recipes") -> StudyRunner:
    data = tiny_study_dict(glue_root, studies, name=name, trials=2, initial_trials=2)
    data["recipes"] = RECIPES
    data["candidates"] = {"recipes": ["fast", "slow"]}
    config = parse_config(data, "test", studies)
    store = StudyStore(config.study_dir)
    store.create(config)
    return StudyRunner(store, config, show_progress=False)


def test_each_recipe_is_the_train_section_with_its_keys_replaced(glue_root, tmp_path):
    data = tiny_study_dict(glue_root, tmp_path)
    data["recipes"] = RECIPES
    data["candidates"] = {"recipes": ["slow", "fast"]}
    config = parse_config(data, "test", tmp_path)
    runs = config.training_runs()
    assert [name for name, _ in runs] == ["slow", "fast"]
    slow = runs[0][1]
    assert (slow.learning_rate, slow.keep_last, slow.seed) == (1e-3, 2, 1)
    assert slow.epochs == config.train.epochs and slow.model == "tiny"  # shared keys kept


def test_a_study_merges_every_recipes_snapshots_and_trains_each_once(glue_root, tmp_path):
    runner = recipe_study(glue_root, tmp_path)
    runner.run()
    candidates = runner.bench.paths
    folders = runner.store.candidates_dir
    assert [p.parent for p in candidates] == [folders / "fast", folders / "slow", folders / "slow"]
    assert len(load_records(runner.store)) >= 2
    trained = [line["folder"] for line in read_jsonl(runner.store.training_log_path)]
    assert sorted(trained) == sorted([str(folders / "fast"), str(folders / "slow")])
    # θ_0 of task-vector methods: the first recipe's start point
    assert base_folder(runner.config, runner.store) == folders / "fast" / "base"
    again = StudyRunner(runner.store, runner.store.read_config(), show_progress=False)
    again.run(extra_trials=1)
    assert len(read_jsonl(runner.store.training_log_path)) == 2  # nothing retrained


@pytest.mark.parametrize("change, message", [
    ({"candidates": {"recipes": ["fast", "nope"]}},
     r"unknown recipe 'nope' \(the config's recipes: fast, slow\)"),
    ({"recipes": {**RECIPES, "fast": {"learning_rat": 1e-3}}},
     r"recipes\.fast\.learning_rat: unknown key"),
    ({"recipes": {**RECIPES, "slow": {"epochs": 0}}},
     r"recipes\.slow\.epochs: Input should be greater than 0"),
    ({"candidates": {"recipes": []}},
     r"recipes: fast, slow defined but candidates\.recipes lists none"),
    ({"train": None}, r"candidates\.recipes: recipes are variants of the train: section"),
    ({"candidates": {"recipes": ["fast", "fast"]}}, r"lists a recipe twice"),
])
def test_bad_recipes_are_refused_in_one_line_naming_the_key(glue_root, tmp_path, change, message):
    data = tiny_study_dict(glue_root, tmp_path)
    data["recipes"] = RECIPES
    data["candidates"] = {"recipes": ["fast", "slow"]}
    data.update(change)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(BomergeError, match=message) as raised:
        load_config(path)
    assert "\n" not in str(raised.value) and "study.yaml" in str(raised.value)
