"""train.intermediate: the encoder is fine-tuned on another task first, and the main run
starts from that encoder with fresh heads.

Specification:

* the intermediate run is an ordinary finished run beside the main run's folder
  (``<run>.intermediate``, its final model only), trained once and reused by every later
  call, also when the main run is retrained;
* the main run's start point (``base``) has the intermediate model's encoder weights and
  tokenizer, and freshly initialised heads (seeded by ``init_seed``), for a one-head task of
  the same label count, of another label count and for the several-head model;
* a several-head (pcgrad, round_robin, single) run after intermediate training on a GLUE
  pair task kept in another data root trains end to end, with SMART as well;
* other intermediate settings are refused like any finished run with other settings;
* bad settings stop with one line naming ``train.intermediate`` before any training.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bomerge.config import TaskConfig, TrainConfig, load_config
from bomerge.errors import BomergeError
from bomerge.models import tokenizer_vocabulary
from bomerge.tasks import get_task
from bomerge.train.finetune import finetune
from bomerge.train.intermediate import intermediate_folder
from bomerge.train.snapshots import BASE_FOLDER, MANIFEST, run_settings, start_point
from tests.conftest import (
    synthetic_sentiment_rows,
    write_config,
    write_pair_folders,
    write_sst2_folder,
)


def write_mrpc_folder(root: Path, n_train: int = 160, n_dev: int = 40) -> Path:
    """A synthetic MRPC folder (GLUE's columns): a pair is a paraphrase when both sentences
    have the same sentiment."""
    folder = root / "MRPC"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 5), ("dev", n_dev, 6)):
        first, second = (synthetic_sentiment_rows(n, seed, 0.0),
                         synthetic_sentiment_rows(n, seed + 1, 0.0))
        lines = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        lines += [f"{int(y1 == y2)}\t{i}\t{i + n}\t{s1}\t{s2}"
                  for i, ((s1, y1), (s2, y2)) in enumerate(zip(first, second, strict=True))]
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def pair_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic SST-2, STS-B, RTE and MRPC folders sharing one vocabulary."""
    root = write_sst2_folder(tmp_path_factory.mktemp("pairs"), 300, 60)
    return write_mrpc_folder(write_pair_folders(root, 200, 40))


def main_task(root: Path, name: str = "sst2") -> TaskConfig:
    return TaskConfig(name=name, max_length=24, data={"root": root, "hub": False})


def main_train(**update: object) -> TrainConfig:
    settings: dict = {"model": "tiny", "epochs": 1, "batch_size": 32, "learning_rate": 2e-3,
                      "save_every": 5, "keep_last": 2, "max_train_examples": 160,
                      "tiny": {"vocab_size": 100},
                      "intermediate": {"task": "rte", "max_train_examples": 96}}
    return TrainConfig(**{**settings, **update})


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def log_folders(log: Path) -> list[str]:
    return [Path(json.loads(line)["folder"]).name for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(pair_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An SST-2 run after intermediate training on RTE: its folder and the training log."""
    out = tmp_path_factory.mktemp("sst2-after-rte") / "run"
    log = out.parent / "training.jsonl"
    finetune(main_task(pair_root), main_train(), out, "cpu", False, log)
    return out, log


def test_the_intermediate_run_is_a_finished_run_beside_the_main_one(trained):
    out, log = trained
    folder = intermediate_folder(out)
    assert folder == out.parent / "run.intermediate" and folder.parent == out.parent
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["settings"]["task"] == "rte" and manifest["train_rows"] == 96
    assert len(manifest["checkpoints"]) == 1  # its final model only: 96 rows / 32 = 3 steps
    assert manifest["checkpoints"][0]["path"] == "step-000003"
    assert log_folders(log) == ["run.intermediate", "run"]
    recorded = json.loads((out / MANIFEST).read_text())["settings"]["train"]["intermediate"]
    assert recorded == manifest["settings"]  # the main run's identity holds the intermediate run's


def test_a_second_call_trains_nothing_and_a_retrained_main_run_reuses_it(trained, pair_root):
    out, log = trained
    stamp = (intermediate_folder(out) / MANIFEST).stat().st_mtime_ns
    first = json.loads((out / MANIFEST).read_text())["checkpoints"]
    assert finetune(main_task(pair_root), main_train(), out, "cpu", False, log) == [
        out / c["path"] for c in first]
    assert log_folders(log) == ["run.intermediate", "run"]
    (out / MANIFEST).unlink()  # an unfinished main run: retrained, its intermediate run reused
    finetune(main_task(pair_root), main_train(), out, "cpu", False, log)
    assert log_folders(log) == ["run.intermediate", "run", "run"]
    assert (intermediate_folder(out) / MANIFEST).stat().st_mtime_ns == stamp


def test_the_start_point_has_the_intermediate_encoder_and_fresh_heads(trained):
    out, _ = trained
    end = intermediate_folder(out) / "step-000003"
    base, inter = weights(out / BASE_FOLDER), weights(end)
    encoder = [n for n in inter if n.startswith("bert.")]
    assert encoder and all(torch.equal(base[n], inter[n]) for n in encoder)  # pooler included
    # SST-2 and RTE both have two labels: the head is new, not RTE's.
    assert not torch.equal(base["classifier.weight"], inter["classifier.weight"])
    assert not torch.any(base["classifier.bias"]) and torch.any(inter["classifier.bias"])
    assert tokenizer_vocabulary(out / BASE_FOLDER) == tokenizer_vocabulary(end)


@pytest.mark.parametrize("name", ["stsb", "cs224n"])
def test_any_task_starts_from_the_intermediate_encoder(trained, pair_root, tmp_path, name):
    """Another label count (one regression output) and the several-head model both take
    the encoder; heads are initialised from init_seed, so two seeds differ only there."""
    end = intermediate_folder(trained[0]) / "step-000003"
    task, inter = get_task(main_task(pair_root, name)), weights(end)
    heads = []
    for seed in (1, 2):
        (tmp_path / str(seed)).mkdir()
        model, _ = start_point(task, main_train(init_seed=seed), [], tmp_path / str(seed), "cpu",
                               end)
        state = {n: t.detach() for n, t in model.state_dict().items()}
        shared = [n for n in state if n.startswith("bert.") and "position_ids" not in n]
        assert shared and all(torch.equal(state[n], inter[n]) for n in shared)
        fresh = {n: t for n, t in state.items() if not n.startswith("bert.")}
        assert fresh and all(not torch.any(t) for n, t in fresh.items() if n.endswith("bias"))
        assert all(n not in inter or inter[n].shape != t.shape or not torch.equal(inter[n], t)
                   for n, t in fresh.items() if n.endswith("weight"))
        heads.append(fresh)
        assert sorted(p.name for p in (tmp_path / str(seed)).iterdir()) == [BASE_FOLDER]
    assert any(not torch.equal(heads[0][n], heads[1][n]) for n in heads[0] if n.endswith("weight"))


@pytest.mark.parametrize("mode", ["pcgrad", "round_robin", "single"])
def test_a_several_head_run_after_a_glue_pair_task_trains_end_to_end(cs224n_root, pair_root,
                                                                     tmp_path, mode):
    task = TaskConfig(name="cs224n", max_length=16, data={"root": cs224n_root, "hub": False})
    train = main_train(mode=mode, max_train_examples=48, epochs=2, save_every=2, keep_last=2,
                       batch_size=16, tasks=["sts"] if mode == "single" else None,
                       intermediate={"task": "mrpc", "epochs": 2, "learning_rate": 4e-3,
                                     "max_train_examples": 80,
                                     "data": {"root": str(pair_root), "hub": False}})
    paths = finetune(task, train, tmp_path / "run", "cpu", False)
    assert len(paths) == 2 and all((p / "model.safetensors").is_file() for p in paths)
    inter_manifest = json.loads((tmp_path / "run.intermediate" / MANIFEST).read_text())
    assert inter_manifest["settings"]["task"] == "mrpc"
    assert inter_manifest["settings"]["train"]["learning_rate"] == 4e-3
    assert [c["path"] for c in inter_manifest["checkpoints"]] == ["step-000010"]  # 2 epochs x 5
    end = tmp_path / "run.intermediate" / "step-000010"
    base, inter = weights(tmp_path / "run" / BASE_FOLDER), weights(end)
    assert all(torch.equal(t, inter[n]) for n, t in base.items() if n.startswith("bert."))
    assert tokenizer_vocabulary(paths[-1]) == tokenizer_vocabulary(end)
    assert json.loads((paths[-1] / "config.json").read_text())["architectures"] == ["MultitaskBert"]


def test_smart_regularises_the_main_run_only(pair_root, tmp_path):
    train = main_train(smart={"steps": 1}, max_train_examples=64)
    finetune(main_task(pair_root), train, tmp_path / "run", "cpu", False)
    settings = json.loads((tmp_path / "run" / MANIFEST).read_text())["settings"]["train"]
    assert settings["smart"]["steps"] == 1 and "smart" not in settings["intermediate"]["train"]


def test_a_csv_task_section_is_an_intermediate_task(pair_root, tmp_path):
    rows = synthetic_sentiment_rows(80, 9)
    for split in ("train", "dev"):
        (tmp_path / f"{split}.csv").write_text(
            "text,mood\n" + "".join(f"{s},{'pos' if y else 'neg'}\n" for s, y in rows))
    section = {"name": "csv", "max_length": 20, "data": {
        "train": str(tmp_path / "train.csv"), "dev": str(tmp_path / "dev.csv"),
        "text_columns": ["text"], "label_column": "mood", "labels": ["neg", "pos"],
        "metric": "accuracy"}}
    finetune(main_task(pair_root, "rte"), main_train(intermediate={"task": section}),
             tmp_path / "run", "cpu", False)
    settings = json.loads((tmp_path / "run.intermediate" / MANIFEST).read_text())["settings"]
    assert settings["task"] == "csv" and settings["max_length"] == 20
    assert settings["data"]["train"].endswith("train.csv")


def test_other_intermediate_settings_are_refused_like_any_finished_run(pair_root, tmp_path):
    """The main run's settings hold the intermediate run's, so the finished main run is
    refused first; without it, the intermediate folder is, named as such."""
    train = main_train(max_train_examples=64,
                       intermediate={"task": "rte", "max_train_examples": 64})
    finetune(main_task(pair_root), train, tmp_path / "run", "cpu", False)
    other = main_train(max_train_examples=64,
                       intermediate={"task": "rte", "max_train_examples": 64, "epochs": 2})
    with pytest.raises(BomergeError, match="run holds a training run with other settings"):
        finetune(main_task(pair_root), other, tmp_path / "run", "cpu", False)
    (tmp_path / "run" / MANIFEST).unlink()
    with pytest.raises(BomergeError, match=r"^train\.intermediate: .*run\.intermediate holds a "
                       "training run with other settings"):
        finetune(main_task(pair_root), other, tmp_path / "run", "cpu", False)
    finetune(main_task(pair_root), other, tmp_path / "fresh" / "run", "cpu", False)
    assert json.loads((tmp_path / "fresh" / "run.intermediate" / MANIFEST).read_text())[
        "settings"]["train"]["epochs"] == 2


def test_runs_without_an_intermediate_task_keep_their_recorded_settings(tiny_task, tiny_train):
    assert "intermediate" not in run_settings(tiny_task, tiny_train)["train"]


def test_init_seed_seeds_the_intermediate_run_so_soup_runs_share_it(tiny_task):
    shared = [main_train(seed=seed, init_seed=7) for seed in (1, 2)]
    recorded = [run_settings(tiny_task, t)["train"]["intermediate"]["train"] for t in shared]
    assert recorded[0] == recorded[1] and recorded[0]["seed"] == 7
    assert (run_settings(tiny_task, main_train(seed=3))["train"]["intermediate"]["train"]["seed"]
            == 3)


BAD = [
    ("sst2", "sst2", r"train\.intermediate\.task: 'sst2' is the main task 'sst2' itself"),
    ("sst2", "SST-2", r"train\.intermediate\.task: 'SST-2' is the main task 'sst2' itself"),
    ("cs224n", "cs224n", r"'cs224n' is the main task 'cs224n' itself"),
    ("cs224n", "sst", r"train\.intermediate\.task: 'sst' is 'sst', a head of the main task"),
    ("cs224n", "sts", r"'sts' is 'sts', a head of the main task 'cs224n' \(sst, quora, sts\)"),
    ("cs224n", "quora", r"'quora' is 'quora', a head of the main task"),
    ("cs224n", "stsb", r"'stsb' is 'sts', a head of the main task"),
    ("sst2", "snli", r"train\.intermediate\.task: unknown task 'snli' \(known tasks: "),
    ("sst2", "cs224n", (r"train\.intermediate\.task: task 'cs224n' has heads sst, quora, "
                        r"sts; intermediate training takes one one-head task")),
    ("sst2", "multi", r"train\.intermediate\.task: task 'multi' needs task\.tasks.*one one-head"),
    ("sst2", {"name": "multi", "tasks": ["rte", "mrpc"]},
     r"train\.intermediate\.task: 'multi' lists sub-tasks; intermediate training takes one"),
]


@pytest.mark.parametrize(("main", "task", "message"), BAD)
def test_bad_intermediate_tasks_stop_before_any_training(pair_root, tmp_path, main, task, message):
    train = main_train(intermediate={"task": task}, mode="pcgrad" if main == "cs224n" else None)
    with pytest.raises(BomergeError, match=message):
        finetune(main_task(pair_root, main), train, tmp_path / "run", "cpu", False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("intermediate", "message"), [
    ({"task": {"name": "rte"}, "data": {"hub": False}},
     r"^train\.intermediate\.data: the task section 'rte' carries its own data"),
    ({"task": "rte", "data": {"label_column": "x"}},
     r"^train\.intermediate\.data\.label_column is not read by task 'rte'"),
    ({"task": {"name": "mrpc", "data": {"metric": "f1"}}},
     r"^train\.intermediate\.task\.data\.metric is not read by task 'mrpc'"),
])
def test_bad_intermediate_data_stops_before_any_training(pair_root, tmp_path, intermediate,
                                                          message):
    with pytest.raises(BomergeError, match=message):
        finetune(main_task(pair_root), main_train(intermediate=intermediate), tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_the_config_file_resolves_the_intermediate_data_and_checks_its_keys(tmp_path):
    raw = {"name": "s", "task": {"name": "cs224n", "data": {"root": "cs"}},
           "train": {"model": "tiny",
                     "intermediate": {"task": "mrpc", "data": {"root": "../glue"}}}}
    config = load_config(write_config(tmp_path / "a.yaml", raw))
    assert config.train is not None and config.train.intermediate is not None
    assert config.train.intermediate.data.root == tmp_path / "../glue"
    raw["train"]["intermediate"] = {"task": {"name": "csv", "data": {"train": "t.csv"}}}
    section = load_config(write_config(tmp_path / "b.yaml", raw)).train.intermediate.task
    assert isinstance(section, TaskConfig) and section.data.train == tmp_path / "t.csv"
    raw["train"]["intermediate"] = {"task": "mrpc", "epoch": 2}
    with pytest.raises(BomergeError, match=r"unknown key 'train\.intermediate\.epoch'"):
        load_config(write_config(tmp_path / "c.yaml", raw))
    raw["train"]["intermediate"] = {"task": "mrpc", "epochs": 0}
    with pytest.raises(BomergeError, match=r"key 'train\.intermediate\.epochs'"):
        load_config(write_config(tmp_path / "d.yaml", raw))
