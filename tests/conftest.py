"""Shared fixtures: a synthetic GLUE-style data folder, tiny trained candidates, configs.

The synthetic rows are generated here (templated sentences with label noise), so every path
of bomerge can run on a CPU in seconds; tests that need the real GLUE files use
``shared_glue_root`` and skip where ../shared/data is absent.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from bomerge.config import TaskConfig, TrainConfig, parse_config

REPO = Path(__file__).resolve().parents[1]
SHARED_GLUE = REPO.parent / "shared" / "data" / "glue"

POSITIVE = ["good", "great", "fine", "lovely", "superb", "warm", "funny", "smart"]
NEGATIVE = ["bad", "awful", "dull", "poor", "boring", "weak", "cold", "stupid"]
FILLER = ["movie", "film", "story", "plot", "cast", "ending", "script", "score", "pace"]


def synthetic_sentiment_rows(n: int, seed: int, noise: float = 0.1) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        word = rng.choice(POSITIVE if label else NEGATIVE)
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))]
        words.insert(rng.randrange(len(words) + 1), word)
        if rng.random() < noise:
            label = 1 - label
        rows.append((" ".join(["the", *words]), label))
    return rows


def write_sst2_folder(root: Path, n_train: int = 800, n_dev: int = 240) -> Path:
    folder = root / "SST-2"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 1), ("dev", n_dev, 2)):
        lines = ["sentence\tlabel"] + [f"{s}\t{y}" for s, y in synthetic_sentiment_rows(n, seed)]
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def glue_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sst2_folder(tmp_path_factory.mktemp("glue"))


@pytest.fixture(scope="session")
def shared_glue_root() -> Path:
    if not (SHARED_GLUE / "SST-2" / "train.tsv").is_file():
        pytest.skip(f"real GLUE data not found at {SHARED_GLUE}")
    return SHARED_GLUE


def tiny_study_dict(glue_root: Path, studies_dir: Path, name: str = "tiny", **search: Any) -> dict:
    return {
        "name": name,
        "studies_dir": str(studies_dir),
        "seed": 0,
        "device": "cpu",
        "task": {
            "name": "sst2",
            "max_length": 24,
            "data": {"root": str(glue_root), "hub": False},
            "eval": {"batch_size": 64},
        },
        "train": {
            "model": "tiny",
            "epochs": 2,
            "batch_size": 32,
            "learning_rate": 2e-3,
            "warmup_ratio": 0.0,
            "save_every": 10,
            "keep_last": 3,
            "tiny": {"vocab_size": 120},
        },
        "search": {"trials": 5, "initial_trials": 2, "num_restarts": 2, "raw_samples": 32,
                   **search},
    }


def candidates_study(glue_root: Path, candidates: list[Path], studies_dir: Path, name: str,
                     extra: dict | None = None, **search: Any) -> Any:
    """A created tiny study over existing candidate folders (no training), ready to run:
    ``search`` keys go to its search section, ``extra`` keys (``executor``, ``ray``) to the
    config's top level."""
    from bomerge.search.runner import StudyRunner
    from bomerge.search.study.store import StudyStore

    data = tiny_study_dict(glue_root, studies_dir, name=name, **search)
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in candidates]}
    data.update(extra or {})
    config = parse_config(data, "test", studies_dir)
    store = StudyStore(config.study_dir)
    store.create(config)
    return StudyRunner(store, config, show_progress=False)


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def train_fixture_run(raw: dict, tmp_path_factory: pytest.TempPathFactory,
                      folder: str) -> list[Path]:
    """The snapshots the ``train:`` section of a study dict keeps, trained into a temp folder."""
    from bomerge.train.finetune import finetune

    config = parse_config(raw, "fixture", Path("."))
    assert config.train is not None
    out = tmp_path_factory.mktemp(folder) / "run"
    return finetune(config.task, config.train, out, "cpu", show_progress=False)


@pytest.fixture(scope="session")
def tiny_candidates(glue_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three snapshots of one tiny-BERT run on the synthetic rows (trained once per session)."""
    return train_fixture_run(tiny_study_dict(glue_root, Path("unused")), tmp_path_factory,
                             "tiny-run")


@pytest.fixture(scope="session")
def tiny_task(glue_root: Path) -> TaskConfig:
    return TaskConfig(name="sst2", max_length=24, data={"root": glue_root, "hub": False})


@pytest.fixture()
def tiny_train() -> TrainConfig:
    return TrainConfig(model="tiny", epochs=1, batch_size=32, learning_rate=2e-3, save_every=5,
                       keep_last=2, max_train_examples=200, tiny={"vocab_size": 100})


SENTIMENT_WORDS = [["awful", "terrible"], ["dull", "weak"], ["okay", "plain"], ["good", "nice"],
                   ["superb", "brilliant"]]


def write_cs224n_folder(root: Path, n: int = 240, seed: int = 0) -> Path:
    """Synthetic CS224N files (same names and columns as the course's data folder): SST
    sentences whose sentiment word sets the class, Quora pairs that are duplicates when they
    share their topic words, STS pairs scored by word overlap."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)

    def sentence(extra: list[str]) -> str:
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 5))] + extra
        rng.shuffle(words)
        return " ".join(["the", *words])

    def write(name: str, header: list[str], rows: list[list[str]]) -> None:
        lines = ["\t" + "\t".join(header)] + [f"{i}\t" + "\t".join(r) for i, r in enumerate(rows)]
        (root / name).write_text("\n".join(lines) + "\n")

    for split, size in (("train", n), ("dev", n // 2)):
        sst = []
        for i in range(size):
            label = rng.randint(0, 4)
            sst.append([f"s{split}{i}", sentence([rng.choice(SENTIMENT_WORDS[label])]), str(label)])
        quora, sts = [], []
        for i in range(size):
            a = rng.sample(POSITIVE + NEGATIVE, 2)
            duplicate = rng.random() < 0.5
            b = a if duplicate else rng.sample(POSITIVE + NEGATIVE, 2)
            quora.append([f"q{split}{i}", sentence(a), sentence(b), "1.0" if duplicate else "0.0"])
            shared = rng.randint(0, 3)
            words = rng.sample(FILLER, 6)
            s1, s2 = words[:3], words[:shared] + words[3 : 6 - shared]
            sts.append([f"t{split}{i}", " ".join(s1), " ".join(s2), f"{5 * shared / 3:.2f}"])
        sst_name = "ids-sst-train.csv" if split == "train" else "ids-sst-dev.csv"
        write(sst_name, ["id", "sentence", "sentiment"], sst)
        write("quora-train.csv" if split == "train" else "quora-dev.csv",
              ["id", "sentence1", "sentence2", "is_duplicate"], quora)
        write(f"sts-{split}.csv", ["id", "sentence1", "sentence2", "similarity"], sts)
    return root


@pytest.fixture(scope="session")
def cs224n_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cs224n_folder(tmp_path_factory.mktemp("cs224n"))


def tiny_multitask_dict(cs224n_root: Path, studies_dir: Path, name: str = "multitask",
                        mode: str = "round_robin", **search: Any) -> dict:
    return {
        "name": name, "studies_dir": str(studies_dir), "seed": 0, "device": "cpu",
        "task": {"name": "cs224n", "max_length": 16,
                 "data": {"root": str(cs224n_root), "hub": False},
                 "eval": {"batch_size": 64}},
        "train": {"model": "tiny", "mode": mode, "epochs": 2, "batch_size": 16,
                  "learning_rate": 3e-3, "warmup_ratio": 0.0, "save_every": 8, "keep_last": 3,
                  "tiny": {"vocab_size": 120}},
        "merge": {"statistics": {"examples": 24, "batch_size": 8}},
        "search": {"trials": 3, "initial_trials": 2, "num_restarts": 2, "raw_samples": 32,
                   **search},
    }


@pytest.fixture(scope="session")
def tiny_multitask_candidates(cs224n_root: Path,
                              tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three snapshots of one round-robin tiny multitask run (trained once per session)."""
    return train_fixture_run(tiny_multitask_dict(cs224n_root, Path("unused")), tmp_path_factory,
                             "tiny-multitask")


@pytest.fixture
def ax_sqlite(tmp_path: Path) -> tuple[str, Any]:
    """An empty Ax SQLite store in ``tmp_path``, its tables created and the engine pointed
    at it: ``(url, StorageConfig)`` for a ``Client`` that saves there."""
    from ax.api.configs import StorageConfig
    from ax.storage.sqa_store.db import (
        create_all_tables,
        get_engine,
        init_engine_and_session_factory,
    )

    url = f"sqlite:///{tmp_path / 'ax.db'}"
    init_engine_and_session_factory(url=url, force_init=True)
    create_all_tables(get_engine())
    return url, StorageConfig(url=url)


def write_pair_folders(root: Path, n_train: int = 800, n_dev: int = 160) -> Path:
    """Synthetic STS-B and RTE folders in ``root`` with the vocabulary of the synthetic
    SST-2 rows: a pair's STS-B score is high when its first sentence is positive, its RTE
    label is entailment when its second is (learnable by a tiny model in seconds)."""
    for folder, header in (("STS-B", "sentence1\tsentence2\tscore"),
                           ("RTE", "index\tsentence1\tsentence2\tlabel")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for split, n, seed in (("train", n_train, 3), ("dev", n_dev, 4)):
            first = synthetic_sentiment_rows(n, seed + len(folder))
            second = synthetic_sentiment_rows(n, seed + 10 * len(folder))
            lines = [header]
            for i, ((s1, y1), (s2, y2)) in enumerate(zip(first, second, strict=True)):
                if folder == "STS-B":
                    lines.append(f"{s1}\t{s2}\t{4.0 * y1 + 0.5 + (i % 5) / 10:.3f}")
                else:
                    lines.append(f"{i}\t{s1}\t{s2}\t{'entailment' if y2 else 'not_entailment'}")
            (root / folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def cross_task_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic SST-2, STS-B and RTE folders sharing one vocabulary."""
    root = write_sst2_folder(tmp_path_factory.mktemp("cross-glue"))
    return write_pair_folders(root)


CROSS_TASKS = ("sst2", "stsb", "rte")


@pytest.fixture(scope="session")
def tiny_cross_task_candidates(cross_task_root: Path, tiny_candidates: list[Path],
                               tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    """One tiny BERT per task of SST-2, STS-B and RTE (synthetic rows), all fine-tuned from
    one start point, and that start point as a bare ``BertModel`` folder (the "pretrained"
    base): the SST-2 one is the last ``tiny_candidates`` snapshot, whose run started there."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    from bomerge.train.finetune import finetune
    from bomerge.train.snapshots import BASE_FOLDER

    start = tiny_candidates[-1].parent / BASE_FOLDER
    work = tmp_path_factory.mktemp("cross-task")
    base = work / "base"
    BertForSequenceClassification.from_pretrained(start).bert.save_pretrained(base)
    AutoTokenizer.from_pretrained(start).save_pretrained(base)
    paths = [tiny_candidates[-1]]
    for task in CROSS_TASKS[1:]:
        raw = tiny_study_dict(cross_task_root, Path("unused"))
        raw["task"]["name"] = task
        raw["train"].update(model=str(base), keep_last=1, learning_rate=4e-3)
        config = parse_config(raw, "fixture", Path("."))
        assert config.train is not None
        paths += finetune(config.task, config.train, work / task, "cpu", show_progress=False)
    return paths, base


def cross_task_dict(cross_task_root: Path, studies_dir: Path, candidates: list[Path], base: Path,
                    name: str = "cross", **search: Any) -> dict:
    """A cross-task study of the tiny candidates over the three synthetic tasks."""
    raw = tiny_study_dict(cross_task_root, studies_dir, name, **search)
    del raw["train"]
    raw["task"].update(name="multi", tasks=list(CROSS_TASKS))
    raw["candidates"] = {"paths": [str(p) for p in candidates], "tasks": list(CROSS_TASKS),
                         "base": str(base)}
    raw["merge"] = {"statistics": {"examples": 64}}
    return raw
