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


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def tiny_candidates(glue_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three snapshots of one tiny-BERT run on the synthetic rows (trained once per session)."""
    from bomerge.train.finetune import finetune

    config = parse_config(tiny_study_dict(glue_root, Path("unused")), "fixture", Path("."))
    assert config.train is not None
    out = tmp_path_factory.mktemp("tiny-run") / "run"
    return finetune(config.task, config.train, out, "cpu", show_progress=False)


@pytest.fixture(scope="session")
def tiny_task(glue_root: Path) -> TaskConfig:
    return TaskConfig(name="sst2", max_length=24, data={"root": glue_root, "hub": False})


@pytest.fixture()
def tiny_train() -> TrainConfig:
    return TrainConfig(model="tiny", epochs=1, batch_size=32, learning_rate=2e-3, save_every=5,
                       keep_last=2, max_train_examples=200, tiny={"vocab_size": 100})
