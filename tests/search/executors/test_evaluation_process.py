"""bomerge.search.executors.evaluation_process: ``executor: process`` scores a study's points
in a process of its own with the scores the study process computes for the same
parameters, whole or chunk by chunk; a dead evaluation process fails its trial and the next
trial gets a new one; a study killed with SIGKILL leaves no evaluation process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from bomerge.errors import BomergeError
from bomerge.search.executors import ExecutorContext, PendingTrial, executor_for
from bomerge.search.executors.evaluation_process import InEvaluationProcess, thread_split
from bomerge.search.records import load_records
from bomerge.search.runner import StudyRunner
from tests.conftest import candidates_study, tiny_study_dict, write_config
from tests.helpers import assert_judged_chunk_by_chunk, log_lines

POINTS = [{"w0": z0, "w1": z1} for z0, z1 in ((0.2, 0.7), (0.5, 0.5), (0.9, 0.1), (0.0, 1.0))]


def study(glue_root: Path, candidates: list[Path], studies: Path, name: str,
          **search) -> StudyRunner:
    return candidates_study(glue_root, candidates, studies, name, {"executor": "process"},
                            **({"trials": 4, "initial_trials": 2, "overlap": True} | search))


def in_process(runner: StudyRunner, paths: list[Path] | None = None,
               decide_for=None) -> InEvaluationProcess:
    """The executor of ``runner``'s study, as the search loop builds it."""
    context = ExecutorContext(runner.config, runner._evaluate, runner.store.directory,
                              paths if paths is not None else runner.bench.paths, None,
                              Console(quiet=True), decide_for or (lambda index: None))
    return InEvaluationProcess(context)


def alive(pid: int) -> bool:
    """Running (not exited, not a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return found


def test_the_evaluation_and_the_study_process_split_the_cores():
    # (evaluation, generation) torch threads: the evaluation runs every trial
    assert thread_split(2, "cpu") == (2, 1)
    assert thread_split(3, "cpu") == (3, 1)
    assert thread_split(16, "cpu") == (16, 8)
    assert thread_split(1, "cpu") == (1, 1)
    # on CUDA both work on the device: the evaluation feeds it with 2 threads
    assert thread_split(16, "cuda") == (2, 14)
    assert thread_split(16, "cuda:1") == (2, 14)
    assert thread_split(1, "cuda") == (1, 1)


def test_the_config_selects_it(glue_root, tiny_candidates, tmp_path):
    runner = study(glue_root, tiny_candidates, tmp_path, "select")
    assert executor_for(runner.config) is InEvaluationProcess


def test_points_score_as_in_the_study_process_whole_or_chunk_by_chunk(
        glue_root, tiny_candidates, tmp_path):
    runner = study(glue_root, tiny_candidates, tmp_path, "same")
    runner.open()
    local = [runner._evaluate(p).result for p in POINTS]
    with in_process(runner) as executor:
        for i, point in enumerate(POINTS):
            executor.submit(PendingTrial(i, point, 0.0))
        scored = dict((trial.index, outcome.result)
                      for trial, outcome in (executor.next_finished() for _ in POINTS))
    assert [(scored[i].loss, scored[i].metric) for i in range(4)] == \
           [(r.loss, r.metric) for r in local]

    # Chunk by chunk: the study process judges each chunk and stops trial 0 after its first.
    assert_judged_chunk_by_chunk(lambda decide_for: in_process(runner, decide_for=decide_for),
                                 runner, POINTS, local)


def test_a_dead_evaluation_process_fails_its_trial_and_a_new_one_scores_the_next(
        glue_root, tiny_candidates, tmp_path):
    runner = study(glue_root, tiny_candidates, tmp_path, "dies")
    runner.open()
    killed: list[int] = []

    def decide_for(index):
        def decide(running) -> bool:
            if index == 1:  # killed for memory, say, halfway through trial 1
                killed.append(executor._process.process.pid)
                os.kill(killed[-1], signal.SIGKILL)
            return False
        return decide

    with in_process(runner, decide_for=decide_for) as executor:
        executor.submit(PendingTrial(0, POINTS[0], 0.0))
        assert executor.next_finished()[1].result is not None
        executor.submit(PendingTrial(1, POINTS[1], 0.0))
        trial, outcome = executor.next_finished()
        assert trial.index == 1 and outcome.result is None
        assert outcome.reason == "the evaluation process died (exit code -9)"
        executor.submit(PendingTrial(2, POINTS[2], 0.0))
        trial, outcome = executor.next_finished()
        assert trial.index == 2 and outcome.result is not None
        assert executor._process.process.pid != killed[0]
    assert not alive(killed[0])


def test_a_study_that_cannot_load_in_the_evaluation_process_says_why(
        glue_root, tiny_candidates, tmp_path):
    runner = study(glue_root, tiny_candidates, tmp_path, "missing")
    runner.open()
    with in_process(runner, paths=[tmp_path / "gone"]) as executor:
        executor.submit(PendingTrial(0, POINTS[0], 0.0))
        with pytest.raises(BomergeError, match=r"evaluation process could not load the study: .*"
                                               r"gone"):
            executor.next_finished()


def test_a_study_gives_the_same_trials_as_overlapped(glue_root, tiny_candidates, tmp_path):
    # the same pipeline, so the same pending points at each generation call
    runs = {}
    for name in ("overlapped", "process"):
        runner = candidates_study(glue_root, tiny_candidates, tmp_path, name,
                                  {"executor": name}, trials=4, initial_trials=2,
                                  batch_size=2, num_restarts=2, raw_samples=32)
        runner.run()
        runs[name] = [(r.index, r.coefficients, r.status) for r in load_records(runner.store)]
    assert runs["process"] == runs["overlapped"]
    assert all(status == "COMPLETED" for _, _, status in runs["process"])


def test_a_study_killed_with_sigkill_leaves_no_evaluation_process(glue_root, tiny_candidates,
                                                                   tmp_path):
    data = tiny_study_dict(glue_root, tmp_path / "studies", name="k", trials=30,
                           initial_trials=2, overlap=True)
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in tiny_candidates]}
    config = write_config(tmp_path / "k.yaml", data | {"executor": "process"})
    study = subprocess.Popen([sys.executable, "-m", "bomerge", "study", "run", str(config), "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "studies" / "k" / "trials.jsonl"
    deadline = time.monotonic() + 120
    while sum(line["node"] != "baseline" for line in log_lines(log)) < 2:  # scored over there
        assert study.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    evaluation = children_of(study.pid)
    assert len(evaluation) == 1
    study.send_signal(signal.SIGKILL)
    study.wait()
    deadline = time.monotonic() + 10
    while alive(evaluation[0]):
        assert time.monotonic() < deadline, "the evaluation process outlived its study"
        time.sleep(0.1)
