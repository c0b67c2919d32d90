"""A user's own CSV files as a study, end to end: ``task.name: csv`` runs a tiny-model study,
the baseline suite, the Pareto table, export and ``bomerge eval`` like any GLUE task."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import synthetic_sentiment_rows, write_config
from tests.helpers import bomerge_here, log_lines

LABELS = ["negative", "positive"]


def write_reviews(path: Path, n: int, seed: int) -> Path:
    """Comma-separated reviews whose text holds commas and quotes (the csv module's job)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "review", "verdict"])
        for i, (text, label) in enumerate(synthetic_sentiment_rows(n, seed)):
            writer.writerow([i, text.replace(" the ", ', "the" ', 1), LABELS[label]])
    return path


def csv_study(tmp_path: Path) -> dict:
    data = tmp_path / "data"
    data.mkdir()
    write_reviews(data / "train.csv", 600, 11)
    write_reviews(data / "dev.csv", 200, 12)
    return {
        "name": "reviews", "studies_dir": str(tmp_path / "studies"), "seed": 0, "device": "cpu",
        "task": {"name": "csv", "max_length": 24,
                 "data": {"train": "data/train.csv", "dev": "data/dev.csv",
                          "text_columns": ["review"], "label_column": "verdict",
                          "labels": LABELS, "metric": "f1"},
                 "eval": {"batch_size": 64}},
        "train": {"model": "tiny", "epochs": 2, "batch_size": 32, "learning_rate": 2e-3,
                  "warmup_ratio": 0.0, "save_every": 10, "keep_last": 3,
                  "tiny": {"vocab_size": 120}},
        "merge": {"statistics": {"examples": 32, "batch_size": 16}},
        "search": {"trials": 2, "initial_trials": 2, "num_restarts": 2, "raw_samples": 32},
    }


def test_a_csv_study_runs_reports_exports_and_evaluates(tmp_path: Path, capsys):
    config = write_config(tmp_path / "reviews.yaml", csv_study(tmp_path))
    where = ["--studies-dir", str(tmp_path / "studies")]
    run = bomerge_here(capsys, "study", "run", str(config), "-q")
    assert run.returncode == 0, run.stderr
    assert "report f1" in run.stdout

    suite = bomerge_here(capsys, "baseline", str(config), "--only", "greedy_soup", "--only",
                         "fisher", "--only", "ties", "-q")
    assert suite.returncode == 0, suite.stderr
    assert "greedy_soup" in suite.stdout and "fisher" in suite.stdout and "ties" in suite.stdout

    listing = json.loads(bomerge_here(capsys, "study", "pareto", "reviews", "--json",
                                      *where).stdout)
    assert listing["complete"] and {b["arm"] for b in listing["baselines"]} >= {"fisher", "ties"}
    pick = listing["pick"]

    out = tmp_path / "merged"
    exported = bomerge_here(capsys, "study", "export", "reviews", str(out), *where, "-q")
    assert exported.returncode == 0, exported.stderr
    scored = json.loads(bomerge_here(capsys, "eval", str(out), "--study", "reviews", "--part",
                                     "selection", "--json", *where).stdout)
    logged = {r["trial"]: r for r in log_lines(tmp_path / "studies" / "reviews" / "trials.jsonl")}
    # the pick may be a trial or a recipe the suite recorded beside them (search.pick_from)
    chosen = logged[pick] if pick is not None else next(
        b for b in listing["baselines"] if b["arm"] == listing["pick_arm"])
    # the exported folder scores on the study's own csv rows what the study recorded
    assert (scored["loss"], scored["f1"]) == pytest.approx((chosen["loss"], chosen["metric"]),
                                                          rel=1e-12, abs=1e-12)

    # another file of the same columns, scored with the study's task settings
    other = write_reviews(tmp_path / "more.csv", 50, 13)
    fresh = json.loads(bomerge_here(capsys, "eval", str(out), "--study", "reviews", "--data",
                                    str(other), "--json", *where).stdout)
    assert fresh["rows"] == 50 and 0.0 <= fresh["f1"] <= 1.0


def test_a_bad_csv_row_stops_the_study_before_any_work(tmp_path: Path, capsys):
    raw = csv_study(tmp_path)
    with (tmp_path / "data" / "dev.csv").open("a", encoding="utf-8") as handle:
        handle.write("999,a fine film,neutral\n")
    result = bomerge_here(capsys, "study", "run", str(write_config(tmp_path / "r.yaml", raw)))
    assert result.returncode == 2
    assert "dev.csv, line 202: label 'neutral' is not one of the labels" in result.stderr
    assert not (tmp_path / "studies" / "reviews").exists()
