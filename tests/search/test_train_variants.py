"""Candidates from several train variants (``train_variants:`` +
``candidates.train_variants``): each train variant is the ``train:`` section with some keys
replaced, trained once into ``candidates/NAME``; the study merges every variant's kept
snapshots, and a resume or a second study trains nothing again. Bad train variants are
refused before any training. Configs and study snapshots written before the rename (the keys
``recipes:`` and ``candidates.recipes``) still load, to the same config."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bomerge.config import dump_config, load_config, parse_config
from bomerge.errors import BomergeError
from bomerge.fileio import read_jsonl
from bomerge.search.records import load_records
from bomerge.search.runner import StudyRunner
from bomerge.search.study.store import StudyStore
from bomerge.search.workbench import base_folder
from tests.conftest import tiny_study_dict

VARIANTS = {"fast": {"learning_rate": 4e-3, "keep_last": 1},
           "slow": {"learning_rate": 1e-3, "keep_last": 2, "seed": 1}}


def variant_study(glue_root: Path, studies: Path, name: str = "variants") -> StudyRunner:
    data = tiny_study_dict(glue_root, studies, name=name, trials=2, initial_trials=2)
    data["train_variants"] = VARIANTS
    data["candidates"] = {"train_variants": ["fast", "slow"]}
    config = parse_config(data, "test", studies)
    store = StudyStore(config.study_dir)
    store.create(config)
    return StudyRunner(store, config, show_progress=False)


def test_each_train_variant_is_the_train_section_with_its_keys_replaced(glue_root, tmp_path):
    data = tiny_study_dict(glue_root, tmp_path)
    data["train_variants"] = VARIANTS
    data["candidates"] = {"train_variants": ["slow", "fast"]}
    config = parse_config(data, "test", tmp_path)
    runs = config.training_runs()
    assert [name for name, _ in runs] == ["slow", "fast"]
    slow = runs[0][1]
    assert (slow.learning_rate, slow.keep_last, slow.seed) == (1e-3, 2, 1)
    assert slow.epochs == config.train.epochs and slow.model == "tiny"  # shared keys kept


def test_a_study_merges_every_variants_snapshots_and_trains_each_once(glue_root, tmp_path):
    runner = variant_study(glue_root, tmp_path)
    runner.run()
    candidates = runner.bench.paths
    folders = runner.store.candidates_dir
    assert [p.parent for p in candidates] == [folders / "fast", folders / "slow", folders / "slow"]
    assert len(load_records(runner.store)) >= 2
    trained = [line["folder"] for line in read_jsonl(runner.store.training_log_path)]
    assert sorted(trained) == sorted([str(folders / "fast"), str(folders / "slow")])
    # θ_0 of task-vector methods: the first train variant's start point
    assert base_folder(runner.config, runner.store) == folders / "fast" / "base"
    again = StudyRunner(runner.store, runner.store.read_config(), show_progress=False)
    again.run(extra_trials=1)
    assert len(read_jsonl(runner.store.training_log_path)) == 2  # nothing retrained


@pytest.mark.parametrize("change, message", [
    ({"candidates": {"train_variants": ["fast", "nope"]}},
     r"candidates\.train_variants: unknown train variant 'nope' "
     r"\(the config's train_variants: fast, slow\)"),
    ({"train_variants": {**VARIANTS, "fast": {"learning_rat": 1e-3}}},
     r"train_variants\.fast\.learning_rat: unknown key"),
    ({"train_variants": {**VARIANTS, "slow": {"epochs": 0}}},
     r"train_variants\.slow\.epochs: Input should be greater than 0"),
    ({"candidates": {"train_variants": []}},
     r"train_variants: fast, slow defined but candidates\.train_variants lists none"),
    ({"train": None},
     r"candidates\.train_variants: train variants are variants of the train: section"),
    ({"candidates": {"train_variants": ["fast", "fast"]}}, r"lists a train variant twice"),
])
def test_bad_train_variants_are_refused_in_one_line_naming_the_key(glue_root, tmp_path, change,
                                                                   message):
    data = tiny_study_dict(glue_root, tmp_path)
    data["train_variants"] = VARIANTS
    data["candidates"] = {"train_variants": ["fast", "slow"]}
    data.update(change)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(BomergeError, match=message) as raised:
        load_config(path)
    assert "\n" not in str(raised.value) and "study.yaml" in str(raised.value)


def test_a_config_with_the_old_recipes_keys_loads_as_the_same_config(glue_root, tmp_path):
    """``recipes:`` and ``candidates.recipes`` (the keys before the rename) read as
    ``train_variants``, relative paths inside a variant resolved alike, and a study whose
    snapshot holds them still opens (its config as the new keys would give it)."""
    variants = {**VARIANTS, "warm": {"intermediate": {"task": "rte", "data": {
        "root": "glue", "hub": False}}}}  # a relative path: resolved under either key
    new = tiny_study_dict(glue_root, tmp_path, name="renamed")
    new["train_variants"] = variants
    new["candidates"] = {"train_variants": ["slow", "fast", "warm"]}
    old = {key: value for key, value in new.items() if key != "train_variants"}
    old["recipes"] = variants
    old["candidates"] = {"recipes": ["slow", "fast", "warm"]}
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(new, sort_keys=False))
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    config = load_config(tmp_path / "new.yaml")
    assert load_config(tmp_path / "old.yaml") == config
    warm = config.variant_train("warm").intermediate
    assert warm is not None and warm.data is not None
    assert warm.data.root == tmp_path / "glue"
    assert "recipes" not in dump_config(config)  # snapshots are written with the new keys

    store = StudyStore(config.study_dir)  # a study saved before the rename: its snapshot
    store.create(config)                  # (absolute paths) under the old keys
    snapshot = yaml.safe_load(dump_config(config))
    snapshot["recipes"] = snapshot.pop("train_variants")
    snapshot["candidates"]["recipes"] = snapshot["candidates"].pop("train_variants")
    store.config_path.write_text(yaml.safe_dump(snapshot, sort_keys=False))
    store.write_meta(replace(store.read_meta(), config_sha256=hashlib.sha256(
        store.config_path.read_bytes()).hexdigest()))
    assert store.read_config() == config
