"""bomerge.cli end to end, as a user runs it: train → study → SIGINT → resume → pareto,
and the one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bomerge.config import TinyModelConfig
from bomerge.models import train_wordpiece
from bomerge.tasks import get_task
from tests.conftest import tiny_study_dict, write_config
from tests.helpers import (
    CLI,
    assert_one_line_error,
    bomerge,
    bomerge_here,
    log_lines,
    table_pick,
)


@pytest.mark.slow  # over 15 s: `pytest -m slow` (docs/testing.md)
def test_interrupted_study_resumes_with_contiguous_trials_and_botorch_after_sobol(
    glue_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the report page is written to the working folder
    studies = tmp_path / "studies"
    config = write_config(tmp_path / "tiny.yaml",
                          tiny_study_dict(glue_root, studies, trials=40, initial_trials=2))
    log = studies / "tiny" / "trials.jsonl"
    process = subprocess.Popen([*CLI, "study", "run", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while len(log_lines(log)) < 7 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert process.poll() is None, process.communicate()[1]
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "bomerge study resume tiny" in stderr
    before = log_lines(log)
    # Reading commands run in this process (they need no fresh interpreter); the run and
    # the resume are real processes.
    pareto = bomerge_here(capsys, "study", "pareto", "tiny", "--studies-dir", str(studies))
    assert pareto.returncode == 0 and "incomplete" in pareto.stdout
    assert bomerge_here(capsys, "study", "report", "tiny", "--studies-dir",
                        str(studies)).returncode == 0
    assert "incomplete" in Path("tiny-report.html").read_text()
    search_before = {r["trial"] for r in before if r["node"] != "baseline"}
    assert len(search_before) < 40  # stopped mid-search

    resumed = bomerge("study", "resume", "tiny", "--trials", "4", "--studies-dir", str(studies))
    assert resumed.returncode == 0, resumed.stderr
    assert "Chosen merge" in resumed.stdout

    listing = json.loads(bomerge_here(capsys, "study", "pareto", "tiny", "--all", "--json",
                                      "--studies-dir", str(studies)).stdout)
    trials = listing["trials"]
    indices = [t["index"] for t in trials]
    assert indices == list(range(len(indices)))  # contiguous numbering
    assert all(t["status"] == "COMPLETED" for t in trials)
    logged = [r["trial"] for r in log_lines(log)]
    assert sorted(logged) == indices  # every trial evaluated and logged exactly once
    nodes = [t["node"] for t in trials]
    assert nodes[:4] == ["baseline"] * 4  # 3 candidates + uniform
    assert nodes[4:6] == ["Sobol", "Sobol"]
    assert set(nodes[6:]) == {"qLogNEHVI"}
    search_after = [t for t in trials if t["node"] != "baseline"]
    # 4 more search trials, plus at most the one in flight at the interrupt (re-run once;
    # the log check above shows nothing was evaluated twice)
    assert len(search_before) + 4 <= len(search_after) <= len(search_before) + 5
    assert listing["complete"] and listing["pick"] in indices
    assert listing["report"]["report_rows"] == 120


def test_pareto_report_export_and_eval_of_a_finished_study(glue_root: Path, tmp_path: Path, capsys,
                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)  # the report page is written to the working folder
    studies = tmp_path / "studies"
    config = write_config(tmp_path / "e.yaml", tiny_study_dict(glue_root, studies, name="e",
                                                                trials=2, initial_trials=2))
    assert bomerge("study", "run", str(config), "--quiet").returncode == 0
    where = ["--studies-dir", str(studies)]
    table = bomerge_here(capsys, "study", "pareto", "e", *where)
    assert "★ pick" in table.stdout and "uniform" in table.stdout and "candidate_0" in table.stdout
    assert "pick rule best_metric" in table.stdout and "incomplete" not in table.stdout
    listing = bomerge_here(capsys, "study", "list", *where)
    row = next(line for line in listing.stdout.splitlines() if line.startswith("│ e "))
    assert "finished" in row and f"trial {table_pick(table.stdout)}" in row
    again = bomerge_here(capsys, "study", "run", str(config))
    assert again.returncode == 2 and "already exists" in again.stderr

    report = bomerge_here(capsys, "study", "report", "e", *where)
    assert report.returncode == 0, report.stderr
    page = Path("e-report.html").read_text()
    assert 'id="objective-plane"' in page and "pick rule best_metric" in page
    assert Path("e-report.png").read_bytes()[:4] == b"\x89PNG"

    logged = {r["trial"]: r for r in log_lines(studies / "e" / "trials.jsonl")}
    listing = json.loads(bomerge_here(capsys, "study", "pareto", "e", "--json", *where).stdout)
    out = tmp_path / "merged"
    for args, index in (([], listing["pick"]), (["--trial", "5", "--force"], 5)):
        exported = bomerge_here(capsys, "study", "export", "e", str(out), *args, *where, "-q")
        assert exported.returncode == 0, exported.stderr
        provenance = json.loads((out / "bomerge_merge.json").read_text())
        assert provenance["trial"] == index and provenance["method"] == "weights"
        assert len(provenance["candidates"]) == 3
        assert all(len(c["sha256"]) == 64 for c in provenance["candidates"])
        scored = json.loads(bomerge_here(capsys, "eval", str(out), "--study", "e", "--part",
                                         "selection", "--json", *where).stdout)
        # the exported folder scores exactly what the study recorded for that trial
        assert ((scored["loss"], scored["accuracy"])
                == (logged[index]["loss"], logged[index]["metric"]))
    from transformers import AutoModelForSequenceClassification

    assert AutoModelForSequenceClassification.from_pretrained(out).num_labels == 2

    assert_one_line_error(bomerge_here(capsys, "study", "export", "e", str(out), *where),
                           "holds an earlier export", "--force")
    missing = bomerge_here(capsys, "study", "export", "e", str(tmp_path / "x"), "--trial", "99",
                           *where)
    assert_one_line_error(missing, "has no trial 99", "trials 0–")


def _explicit_config(tmp_path: Path, glue_root: Path, paths: list[Path]) -> Path:
    data = tiny_study_dict(glue_root, tmp_path / "studies", name="bad")
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in paths]}
    return write_config(tmp_path / "bad.yaml", data)


def test_train_keeps_the_last_k_snapshots_and_prints_their_folders(glue_root: Path,
                                                                   tmp_path: Path, capsys):
    data = tiny_study_dict(glue_root, tmp_path / "studies")
    data["train"].update(epochs=1, max_train_examples=160, save_every=2, keep_last=2)
    out = tmp_path / "run"
    trained = bomerge_here(capsys, "train", str(write_config(tmp_path / "t.yaml", data)),
                           "--out", str(out), "-q")
    assert trained.returncode == 0, trained.stderr
    # 160 rows / 32 = 5 steps, a snapshot every 2 -> steps 2 and 4, both kept
    printed = [Path(line) for line in trained.stdout.split()]
    assert [p.name for p in printed] == ["step-000002", "step-000004"]
    assert all(p.parent == out and (p / "model.safetensors").is_file() for p in printed)
    assert not (tmp_path / "studies").exists()  # training alone creates no study

    del data["train"]
    refused = bomerge_here(capsys, "train", str(write_config(tmp_path / "none.yaml", data)),
                           "--out", str(tmp_path / "nothing"))
    assert_one_line_error(refused, "none.yaml", "no 'train' section")
    assert not (tmp_path / "nothing").exists()


def test_unknown_key_is_a_one_line_error(glue_root: Path, tmp_path: Path, capsys):
    data = tiny_study_dict(glue_root, tmp_path / "studies")
    data["search"]["trails"] = 3
    result = bomerge_here(capsys, "study", "run", str(write_config(tmp_path / "typo.yaml", data)))
    assert_one_line_error(result, "typo.yaml", "unknown key 'search.trails'")
    assert not (tmp_path / "studies").exists()


def test_missing_checkpoint_folder_is_a_one_line_error(
    glue_root, tiny_candidates, tmp_path, capsys
):
    config = _explicit_config(tmp_path, glue_root, [tiny_candidates[0], tmp_path / "gone"])
    assert_one_line_error(bomerge_here(capsys, "study", "run", str(config)),
                           "checkpoint folder not found", "gone")
    assert not (tmp_path / "studies" / "bad").exists()


def test_mismatched_candidates_name_the_tensors(glue_root, tiny_candidates, tmp_path, capsys):
    tokenizer = train_wordpiece(["the good film"], 600)
    model = get_task("sst2").new_tiny_model(tokenizer, TinyModelConfig(hidden_size=16), 0, None)
    other = tmp_path / "other"
    model.save_pretrained(other)
    tokenizer.save_pretrained(other)
    config = _explicit_config(tmp_path, glue_root, [tiny_candidates[0], other])
    assert_one_line_error(bomerge_here(capsys, "study", "run", str(config)), "does not match",
                           "bert.embeddings.word_embeddings.weight")


def test_unknown_study_is_a_one_line_error(tmp_path, capsys):
    assert_one_line_error(bomerge_here(capsys, "study", "resume", "nope",
                                        "--studies-dir", str(tmp_path)),
                           "no study named 'nope'")


def test_unknown_executor_is_a_one_line_error_before_work(glue_root, tmp_path, capsys):
    config = write_config(tmp_path / "tiny.yaml", tiny_study_dict(glue_root, tmp_path / "studies"))
    assert_one_line_error(bomerge_here(capsys, "study", "run", str(config), "--executor", "dask"),
                           "--executor: unknown executor 'dask' "
                           "(known: local, in_turn, overlapped, process, ray)")
    assert not (tmp_path / "studies").exists()


ALL_BASELINES = ["candidate_0", "candidate_1", "candidate_2", "uniform", "greedy_soup", "fisher",
                 "regmean", "mats", "task_arithmetic", "ties", "localize_stitch"]


def _baseline_config(tmp_path: Path, glue_root: Path, candidates: list[Path], name: str,
                     **extra: object) -> Path:
    data = tiny_study_dict(glue_root, tmp_path / "studies", name=name)
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in candidates],
                          "base": str(candidates[0].parent / "base")}
    data["merge"] = {"method": "weights", "statistics": {"examples": 64}}
    data.update(extra)
    return write_config(tmp_path / f"{name}.yaml", data)


def test_baseline_prints_one_table_and_records_every_arm(glue_root, tiny_candidates, tmp_path,
                                                         capsys):
    config = _baseline_config(tmp_path, glue_root, tiny_candidates, "b")
    result = bomerge("baseline", str(config), env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "│" in line]
    for label in ALL_BASELINES:
        assert any(line.split("│")[1].strip() == label for line in rows), (label, result.stdout)
    assert "kept" in result.stdout  # greedy soup says which candidates it kept
    assert "bomerge study resume b" in result.stdout

    listing = json.loads(bomerge_here(capsys, "study", "pareto", "b", "--all", "--json",
                                      "--studies-dir", str(tmp_path / "studies")).stdout)
    in_space = {t["arm"] for t in listing["trials"]}
    foreign = {b["arm"]: b for b in listing["baselines"]}
    # weights-space recipes are trials of the study; other methods are labelled arms
    assert {"candidate_0", "candidate_1", "candidate_2", "uniform"} <= in_space
    assert set(foreign) == {"fisher", "regmean", "mats", "task_arithmetic", "ties",
                            "localize_stitch", "dare_task_arithmetic", "dare_ties", "wudi", "tsv"}
    assert foreign["ties"]["method"] == "ties" and foreign["ties"]["index"] is None
    assert all(t["node"] == "baseline" for t in listing["trials"])
    table = bomerge("study", "pareto", "b", "--studies-dir", str(tmp_path / "studies"),
                    env={"COLUMNS": "250"})
    assert "localize_stitch" in table.stdout and "regmean" in table.stdout

    again = bomerge_here(capsys, "baseline", str(config), "--only", "fisher")
    assert again.returncode == 0 and "fisher" in again.stdout and "(recorded)" in again.stdout


def test_warm_started_study_starts_from_the_baseline_suite(glue_root, tiny_candidates, tmp_path,
                                                           capsys):
    config = _baseline_config(tmp_path, glue_root, tiny_candidates, "w",
                              baselines=["candidates", "uniform", "greedy_soup", "fisher"])
    data = yaml.safe_load(config.read_text())
    data["search"].update(trials=2, initial_trials=1, warm_start=True)
    config = write_config(config, data)
    result = bomerge("study", "run", str(config), "--quiet")
    assert result.returncode == 0, result.stderr
    listing = json.loads(bomerge_here(capsys, "study", "pareto", "w", "--all", "--json",
                                      "--studies-dir", str(tmp_path / "studies")).stdout)
    nodes = [t["node"] for t in listing["trials"]]
    assert nodes[:4] == ["baseline"] * 4 and len(nodes) - nodes.count("baseline") == 2
    assert [b["arm"] for b in listing["baselines"]] == ["fisher"]
    assert "fisher" in listing["report"]["scores"]


def test_method_that_needs_a_base_without_one_is_refused_before_work(
    glue_root, tiny_candidates, tmp_path, capsys
):
    config = _explicit_config(tmp_path, glue_root, tiny_candidates)
    data = yaml.safe_load(config.read_text())
    data["merge"] = {"method": "ties"}
    assert_one_line_error(bomerge_here(capsys, "study", "run", str(write_config(config, data))),
                           "ties", "base")
    assert not (tmp_path / "studies" / "bad").exists()


def test_statistics_split_without_data_is_refused_before_work(
    glue_root, tiny_candidates, tmp_path, capsys
):
    config = _explicit_config(tmp_path, glue_root, tiny_candidates)
    data = yaml.safe_load(config.read_text())
    data["merge"] = {"method": "fisher", "statistics": {"split": "test"}}
    assert_one_line_error(bomerge_here(capsys, "study", "run", str(write_config(config, data))),
                           "no data for statistics", "test")
    assert not (tmp_path / "studies" / "bad").exists()


def test_unsupported_head_is_refused_before_work(glue_root, tiny_candidates, tmp_path, capsys):
    masked = tmp_path / "masked"
    shutil.copytree(tiny_candidates[0], masked)
    config_file = masked / "config.json"
    settings = json.loads(config_file.read_text())
    settings["architectures"] = ["BertForMaskedLM"]
    config_file.write_text(json.dumps(settings))
    config = _explicit_config(tmp_path, glue_root, [tiny_candidates[1], masked])
    assert_one_line_error(bomerge_here(capsys, "baseline", str(config)), "BertForMaskedLM",
                           "is not supported", "config.json")
    assert not (tmp_path / "studies" / "bad").exists()


def test_an_unknown_option_is_a_usage_error_not_an_internal_one(capsys, tmp_path: Path):
    result = bomerge_here(capsys, "study", "run", str(tmp_path / "x.yaml"), "--no-such-option", "s")
    assert result.returncode == 2
    assert "No such option: --no-such-option" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
