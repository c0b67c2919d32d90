"""bomerge.config: a study YAML is validated; every mistake names the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bomerge.config import load_config
from bomerge.errors import BomergeError

MINIMAL = "name: demo\ntask:\n  name: sst2\ncandidates:\n  paths: [ckpt/a, ckpt/b]\n"


def test_minimal_config_gets_defaults_and_resolves_paths_against_its_folder(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL)
    config = load_config(path)
    assert config.merge.method == "weights"
    assert config.search.batch_size == 1
    assert config.candidates.paths == [tmp_path / "ckpt/a", tmp_path / "ckpt/b"]
    assert config.study_dir == Path("studies/demo")


def test_unknown_key_names_the_dotted_key_and_the_file(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + "search:\n  trails: 5\n")
    with pytest.raises(BomergeError, match=r"study\.yaml: unknown key 'search\.trails'"):
        load_config(path)


def test_wrong_type_names_the_key_and_the_value(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + "search:\n  trials: many\n")
    with pytest.raises(BomergeError, match=r"key 'search\.trials'.*'many'"):
        load_config(path)


def test_missing_required_key(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text("name: demo\n")
    with pytest.raises(BomergeError, match="missing key 'task'"):
        load_config(path)


def test_invalid_yaml_gives_line_and_column(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text("name: demo\ntask: [unclosed\n")
    with pytest.raises(BomergeError, match=r"invalid YAML at line \d+, column \d+"):
        load_config(path)


def test_missing_file(tmp_path: Path):
    with pytest.raises(BomergeError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_bad_study_name_and_device(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL.replace("name: demo", "name: ../escape") + "device: tpu\n")
    with pytest.raises(BomergeError, match="key 'name'.*key 'device'"):
        load_config(path)


def test_shipped_configs_are_valid():
    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")):
        assert load_config(path).name


def test_per_task_objectives_need_a_multitask_task_and_loss_bound_needs_a_bound(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + "search:\n  objectives: per_task\n")
    with pytest.raises(BomergeError, match=r"study\.yaml: search.objectives 'per_task' needs a multitask task"):
        load_config(path)
    path.write_text(MINIMAL + "search:\n  pick: loss_bound\n")
    with pytest.raises(BomergeError, match=r"study\.yaml: search.pick 'loss_bound' needs search.pick_loss_bound"):
        load_config(path)
    path.write_text(MINIMAL + "search:\n  pick: loss_bound\n  pick_loss_bound: 0.4\n")
    assert load_config(path).search.pick_loss_bound == 0.4
