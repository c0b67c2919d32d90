"""bomerge.config: a study YAML's structure is validated; bomerge.search.config_names resolves its
names (task, merge method and options, baselines, strategies) and lets the task refuse
settings it cannot honour. Every mistake names the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bomerge.config import load_config, parse_config
from bomerge.errors import BomergeError
from bomerge.search.config_names import check_names, load_study_config

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


def test_pool_dtype_defaults_to_float32_and_other_types_are_refused_naming_the_key(tmp_path: Path):
    """merge.pool_dtype: float32 (default), bfloat16 or float16; float64 would double the
    pool that the half types exist to halve, and is refused naming the key."""
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL)
    assert load_config(path).merge.pool_dtype == "float32"
    path.write_text(MINIMAL + "merge:\n  pool_dtype: bfloat16\n")
    assert load_config(path).merge.pool_dtype == "bfloat16"
    path.write_text(MINIMAL + "merge:\n  pool_dtype: float64\n")
    with pytest.raises(BomergeError, match=r"study\.yaml: key 'merge\.pool_dtype'.*"
                                           r"'float32', 'bfloat16' or 'float16'.*'float64'"):
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


def test_shipped_configs_resolve_their_names():
    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")):
        assert load_study_config(path).name


def test_loss_bound_needs_a_bound(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + "search:\n  pick: loss_bound\n")
    with pytest.raises(BomergeError, match=r"study\.yaml: search.pick 'loss_bound' needs "
                                           r"search.pick_loss_bound"):
        load_config(path)
    path.write_text(MINIMAL + "search:\n  pick: loss_bound\n  pick_loss_bound: 0.4\n")
    assert load_config(path).search.pick_loss_bound == 0.4


def test_per_task_objectives_need_a_task_with_one_metric_per_head(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + "search:\n  objectives: per_task\n")
    assert load_config(path).search.objectives == "per_task"  # the structure is fine
    with pytest.raises(BomergeError, match=r"study\.yaml: search.objectives 'per_task' needs a "
                       r"task with one metric per head \(task 'sst2' has one head\)"):
        load_study_config(path)
    path.write_text(MINIMAL.replace("name: sst2", "name: cs224n")
                    + "search:\n  objectives: per_task\n")
    assert load_study_config(path).search.objectives == "per_task"


@pytest.mark.parametrize(("extra", "message"), [
    ("merge:\n  method: blend\n", r"study\.yaml: unknown merge method 'blend' \(known: .*weights"),
    ("merge:\n  method: ties\n  options:\n    densty: 0.2\n",
     r"study\.yaml: unknown key 'merge\.options\.densty' for method 'ties'"),
    ("baselines: [uniform, best_guess]\n", r"study\.yaml: unknown baseline 'best_guess' \(known: "),
    ("search:\n  strategy: anneal\n",
     r"study\.yaml: unknown search strategy 'anneal' \(known: .*gp"),
])
def test_unknown_names_are_refused_when_names_are_resolved(tmp_path: Path, extra: str,
                                                           message: str):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + extra)
    load_config(path)  # names are strings to the structural check
    with pytest.raises(BomergeError, match=message):
        load_study_config(path)


def test_an_unknown_task_lists_the_known_ones(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL.replace("name: sst2", "name: imdb"))
    assert load_config(path).task.name == "imdb"
    with pytest.raises(BomergeError, match=r"study\.yaml: unknown task 'imdb' \(known tasks: "
                       r".*cs224n.*sst2"):
        load_study_config(path)


def test_task_aliases_resolve(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL.replace("name: sst2", "name: SST-2"))
    assert load_study_config(path).task.name == "SST-2"


def test_check_names_prefixes_the_source_and_returns_the_config(tmp_path: Path):
    raw = {"name": "demo", "task": {"name": "mrpc"}, "merge": {"method": "regmean"}}
    config = parse_config(raw, "study.yaml", tmp_path)
    assert check_names(config, "study.yaml") is config
    raw["merge"] = {"method": "fisher", "options": {"estimator": "guess"}}
    with pytest.raises(BomergeError, match=r"^study\.yaml: key 'merge\.options\.estimator'"):
        check_names(parse_config(raw, "study.yaml", tmp_path), "study.yaml")


def test_training_keys_of_several_head_tasks_are_refused_for_a_one_head_task(tmp_path: Path):
    base = {"name": "demo", "task": {"name": "sst2"}, "train": {"model": "tiny"}}
    for train, message in (
        ({"mode": "pcgrad"}, r"train\.mode 'pcgrad' is not a training mode of task 'sst2' "
                             r"\(its modes: shuffled\)"),
        ({"tasks": ["sst"]}, r"train\.tasks applies to tasks with several heads "
                             r"\(task 'sst2' has one\)"),
        ({"task_weights": [1.0]}, r"train\.task_weights applies to tasks with several heads"),
    ):
        raw = {**base, "train": {**base["train"], **train}}
        config = parse_config(raw, "study.yaml", tmp_path)  # structure only
        with pytest.raises(BomergeError, match=r"^study\.yaml: " + message):
            check_names(config, "study.yaml")
    shuffled = parse_config({**base, "train": {"model": "tiny", "mode": "shuffled"}},
                            "study.yaml", tmp_path)
    assert check_names(shuffled, "study.yaml").train.mode == "shuffled"


def test_a_study_snapshot_reads_back_as_the_same_config(tmp_path: Path):
    """``config.yaml`` in a study folder (every key written, defaults included) is itself a
    valid config with the same names, for GLUE and for a csv task."""
    from bomerge.config import dump_config, parse_config
    from bomerge.search.config_names import load_study_config

    glue = {"name": "g", "task": {"name": "sst2", "data": {"root": "glue"}}}
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,x\nb,y\n")
    csv_task = {"name": "c", "task": {"name": "csv", "data": {
        "train": str(data), "dev": str(data), "text_columns": ["text"], "label_column": "label",
        "labels": ["x", "y"], "metric": "mcc"}}}
    for raw in (glue, csv_task):
        config = parse_config(raw, "study.yaml", tmp_path)
        snapshot = tmp_path / f"{config.name}.yaml"
        snapshot.write_text(dump_config(config))
        assert load_study_config(snapshot) == config


def test_a_key_given_twice_at_the_top_level_is_refused_naming_the_file_the_key_and_both_lines(
    tmp_path: Path
):
    """Plain YAML keeps the second value and drops the first silently; a config refuses the
    file instead, in one line."""
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + "seed: 1\nname: other\n")  # 'name' is line 1 of MINIMAL
    with pytest.raises(BomergeError) as refused:
        load_config(path)
    assert str(refused.value) == (f"{path}: key 'name' appears twice (lines 1 and 7); keep one")


def test_a_key_given_twice_in_a_nested_section_is_refused_with_its_dotted_path(tmp_path: Path):
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + "search:\n  trials: 12\n"
                    "  initial_trials: 3\n  trials: 15\n")  # lines 6-9
    with pytest.raises(BomergeError, match=r"^.*study\.yaml: key 'search\.trials' appears twice "
                                           r"\(lines 7 and 9\); keep one$"):
        load_config(path)
    path.write_text(MINIMAL + "search:\n  points:\n    - {w: [1, 0], w: [0, 1]}\n")
    with pytest.raises(BomergeError, match=r"key 'search\.points\.0\.w' appears twice \(line 8\)"):
        load_config(path)


def test_a_key_set_over_a_merged_anchor_is_an_override_not_a_duplicate(tmp_path: Path):
    """Anchors and merge keys (``<<: *anchor``) load as plain PyYAML loads them."""
    path = tmp_path / "study.yaml"
    path.write_text("name: demo\ntask:\n  name: sst2\ntrain: {model: tiny}\n"
                    "candidates:\n  train_variants: [slow, fast]\n"
                    "train_variants:\n  slow: &slow {learning_rate: 1.0e-4, epochs: 3}\n"
                    "  fast:\n    <<: *slow\n    learning_rate: 1.0e-3\n")
    assert load_config(path).train_variants == {"slow": {"learning_rate": 1e-4, "epochs": 3},
                                                "fast": {"learning_rate": 1e-3, "epochs": 3}}


def test_a_value_that_fits_no_member_of_a_union_is_one_problem_naming_the_key_itself(
    tmp_path: Path
):
    """``train.save_every`` is a number or 'epoch': the error names that key (not pydantic's
    names of the union's members) and says what each member expects."""
    path = tmp_path / "study.yaml"
    path.write_text(MINIMAL + "train:\n  model: tiny\n  save_every: often\n")
    with pytest.raises(BomergeError) as refused:
        load_config(path)
    assert str(refused.value) == (f"{path}: key 'train.save_every': Input should be a valid "
                                  "integer, unable to parse string as an integer or Input "
                                  "should be 'epoch' (got 'often')")
    path.write_text(MINIMAL + "merge:\n  method: []\n")
    with pytest.raises(BomergeError, match=r"^\S*study\.yaml: merge\.method: an empty list"):
        load_config(path)


def test_a_file_that_is_not_utf8_or_holds_a_control_character_is_refused_in_one_line(
    tmp_path: Path
):
    path = tmp_path / "study.yaml"
    path.write_bytes(MINIMAL.encode() + b"seed: \xff\n")
    with pytest.raises(BomergeError, match=r"^\S*study\.yaml: not UTF-8 text \(line 6: "
                                           r"invalid start byte b'\\xff'\)$"):
        load_config(path)
    path.write_text(MINIMAL.replace("sst2", "s\x07t2"))
    with pytest.raises(BomergeError, match=r"^\S*study\.yaml: invalid YAML at line 3, column 10: "
                                           r"character #x0007: special characters are not "
                                           r"allowed$"):
        load_config(path)
