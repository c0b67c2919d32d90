"""bomerge.search.bilevel: an outer Ax study over fine-tuning hyperparameters, each outer
trial a fine-tuning run plus a whole inner MOBO-SWA study; interrupted and resumed at the
level where it stopped, without retraining finished outer trials."""

from __future__ import annotations

from pathlib import Path

import pytest

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.fileio import read_jsonl
from bomerge.search.bilevel import BilevelRunner, inner_study_name, train_settings
from bomerge.search.study.store import StudyStore
from tests.conftest import tiny_study_dict


def bilevel_config(glue_root: Path, studies: Path, name: str = "bilevel"):
    raw = tiny_study_dict(glue_root, studies, name, trials=2, initial_trials=2)
    raw["train"].update(max_train_examples=160, epochs=1, save_every=2, keep_last=3)
    raw["task"]["eval"].update(max_selection_examples=60, max_report_examples=60)
    # inner trials are scored chunk by chunk, as early stopping scores them
    raw["search"]["early_stopping"] = {"enabled": True, "chunks": 2}
    raw["outer"] = {
        "trials": 2, "initial_trials": 2,
        "space": {"learning_rate": {"low": 5e-4, "high": 5e-3},
                  "batch_size": {"choices": [16, 32]}},
    }
    return parse_config(raw, "test", Path("."))


def new_store(config) -> StudyStore:
    store = StudyStore(config.study_dir)
    store.create(config)
    return store


def inner_training_runs(store: StudyStore) -> dict[str, int]:
    """Training runs actually performed, per inner study (from their training.jsonl)."""
    return {folder.name: len(read_jsonl(folder / "training.jsonl"))
            for folder in sorted((store.directory / "inner").iterdir())}


def test_outer_hyperparameters_replace_the_train_settings(glue_root, tmp_path):
    config = bilevel_config(glue_root, tmp_path)
    trained = train_settings(config.train, {"learning_rate": 1e-3, "batch_size": 16.0})
    assert trained.learning_rate == 1e-3 and trained.batch_size == 16
    assert isinstance(trained.batch_size, int)
    assert trained.keep_last == config.train.keep_last


def test_an_outer_section_needs_a_train_section_and_known_hyperparameters(glue_root, tmp_path):
    raw = tiny_study_dict(glue_root, tmp_path)
    raw["outer"] = {"space": {"learning_rate": {"low": 1e-5, "high": 1e-3}}}
    del raw["train"]
    with pytest.raises(BomergeError, match="outer: .*needs a train: section"):
        parse_config(raw, "c.yaml", Path("."))
    raw = tiny_study_dict(glue_root, tmp_path)
    raw["outer"] = {"space": {"momentum": {"low": 0.1, "high": 0.9}}}
    with pytest.raises(BomergeError,
                       match="c.yaml: key 'outer.space'.*unknown hyperparameter 'momentum'"):
        parse_config(raw, "c.yaml", Path("."))


def test_an_interrupted_bilevel_study_resumes_where_it_stopped_without_retraining(
        glue_root, tmp_path, monkeypatch):
    # The uninterrupted reference run.
    reference_config = bilevel_config(glue_root, tmp_path / "a")
    reference = new_store(reference_config)
    outcome = BilevelRunner(reference, reference_config, show_progress=False).run()
    assert [r.index for r in outcome.records] == [0, 1]
    assert inner_training_runs(reference) == {"bilevel.o000": 1, "bilevel.o001": 1}

    # The same study, interrupted during outer trial 1's inner search (after its training).
    config = bilevel_config(glue_root, tmp_path / "b")
    store = new_store(config)
    from bomerge.search.runner import StudyRunner

    original = StudyRunner._record_trials
    calls = {"n": 0}

    def interrupt_in_second_inner_study(self, finished, progress):
        if self.store.name == inner_study_name("bilevel", 1):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt
        return original(self, finished, progress)

    monkeypatch.setattr(StudyRunner, "_record_trials", interrupt_in_second_inner_study)
    with pytest.raises(KeyboardInterrupt):
        BilevelRunner(store, config, show_progress=False).run()
    assert [e["trial"] for e in read_jsonl(store.directory / "outer.jsonl")] == [0]
    monkeypatch.setattr(StudyRunner, "_record_trials", original)

    resumed = BilevelRunner(store, store.read_config(), show_progress=False).run()
    assert [r.index for r in resumed.records] == [0, 1]
    assert all(r.status == "COMPLETED" for r in resumed.records)
    # Each outer trial trained exactly once: the interrupted one reused its finished run.
    assert inner_training_runs(store) == {"bilevel.o000": 1, "bilevel.o001": 1}
    # The inner study continued: contiguous trial numbers, its whole budget, once each.
    inner_log = read_jsonl(store.directory / "inner" / "bilevel.o001" / "trials.jsonl")
    indices = [e["trial"] for e in inner_log]
    assert indices == sorted(set(indices)) == list(range(len(indices)))
    assert all(0 < e["rows"] <= 60 for e in inner_log if "rows" in e)
    assert any("rows" in e for e in inner_log)
    # Deterministic training and evaluation: the same outer results as without interruption.
    # (Ax keeps 9 decimals of a reloaded trial's scores.)
    assert [r.coefficients for r in resumed.records] == [r.coefficients for r in outcome.records]
    scores = [value for r in resumed.records for value in (r.metric, r.loss)]
    assert scores == pytest.approx([v for r in outcome.records for v in (r.metric, r.loss)],
                                   abs=1e-8)
    result = store.read_result()
    assert result["pick"]["outer_trial"] == outcome.pick.index
    assert result["pick"]["inner_pick_rule"] == "best_metric"
    assert set(result["pick"]["report"]) >= {"loss", "metric"}
