"""bomerge.search.executors.ray: ``executor: ray`` runs a study's trials in Ray actors on a
local Ray instance and ends with the same trials, a consistent store, and scores identical
to the ones the study process computes for the same parameters."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.search.executors import ExecutorContext, PendingTrial
from bomerge.search.executors.ray import OnRay, WorkerShape
from bomerge.search.records import load_records
from bomerge.search.runner import StudyRunner
from bomerge.search.study.store import StudyStore
from tests.conftest import candidates_study, tiny_study_dict
from tests.helpers import assert_judged_chunk_by_chunk

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def study(glue_root: Path, candidates: list[Path], studies: Path, name: str,
          **extra) -> StudyRunner:
    return candidates_study(glue_root, candidates, studies, name, extra, trials=4, initial_trials=2)


def on_ray(runner: StudyRunner, paths: list[Path], decide_for=None) -> OnRay:
    """The Ray executor of ``runner``'s study, as the search loop builds it."""
    from rich.console import Console

    context = ExecutorContext(runner.config, runner._evaluate, runner.store.directory, paths,
                              None, Console(quiet=True), decide_for or (lambda index: None))
    return OnRay(context)


def sqlite_trials(store: StudyStore) -> list[tuple[int, int]]:
    """(index, status) of every trial row in the study's Ax SQLite file."""
    with sqlite3.connect(store.directory / "ax.sqlite") as db:
        return sorted(db.execute("SELECT `index`, status FROM trial_v2").fetchall())


def test_an_unreachable_ray_cluster_is_a_clear_error(glue_root, tiny_candidates, tmp_path):
    assert not ray.is_initialized()  # runs before the tests that start the local instance
    runner = study(glue_root, tiny_candidates, tmp_path, "far", executor="ray",
                   ray={"address": "127.0.0.1:9"})
    with pytest.raises(BomergeError, match=r"ray.address 127.0.0.1:9: cannot start or reach Ray"):
        with on_ray(runner, list(tiny_candidates)):
            pass


@pytest.mark.slow  # over 15 s: `pytest -m slow` (docs/testing.md)
def test_a_study_on_ray_completes_the_same_trials_as_the_local_executor_with_the_same_scores(
        glue_root, tiny_candidates, tmp_path, local_ray):
    local = study(glue_root, tiny_candidates, tmp_path, "local")
    on_ray = study(glue_root, tiny_candidates, tmp_path, "ray", executor="ray")
    local_outcome = local.run()
    ray_outcome = on_ray.run()

    local_records, ray_records = load_records(local.store), load_records(on_ray.store)
    assert len(ray_records) == len(local_records) == 4 + 4  # 3 candidates + uniform, 4 trials
    assert all(r.status == "COMPLETED" for r in ray_records)
    # The store is consistent: Ax's rows, the log and the result agree on the trials.
    assert [i for i, _ in sqlite_trials(on_ray.store)] == list(range(8))
    assert sorted(line["trial"] for line in on_ray.store.read_log()) == list(range(8))
    assert ray_outcome.report["trials"] == local_outcome.report["trials"] == 8
    assert on_ray.store.read_result() is not None

    # Every Ray-scored trial, re-scored by the study process, has the scores Ax stored for it
    # (Ax's store keeps 9 decimals; the next test compares unrounded scores bit for bit).
    on_ray.open()
    for record in ray_records:
        params = dict(on_ray.client._experiment.trials[record.index].arm.parameters)
        outcome = on_ray._evaluate(params)
        assert outcome.result is not None
        assert outcome.result.loss == pytest.approx(record.loss, abs=1e-9, rel=0)
        assert outcome.result.metric == pytest.approx(record.metric, abs=1e-9, rel=0)


def test_ray_scores_do_not_depend_on_which_worker_or_how_many_trials_run_at_once(
        glue_root, tiny_candidates, tmp_path, local_ray):
    runner = study(glue_root, tiny_candidates, tmp_path, "q", executor="ray")
    runner.open()
    points = [{"w0": z0, "w1": z1} for z0, z1 in ((0.2, 0.7), (0.5, 0.5), (0.9, 0.1), (0.0, 1.0))]
    local = [runner._evaluate(p).result for p in points]
    with on_ray(runner, runner.bench.paths) as workers:
        assert workers.idle == 2
        for q in (1, 2):  # one trial in flight, then two at once on both workers
            scored = {}
            for start in range(0, len(points), q):
                for i in range(start, start + q):
                    workers.submit(PendingTrial(i, points[i], 0.0))
                for _ in range(q):
                    trial, outcome = workers.next_finished()
                    scored[trial.index] = outcome.result
            assert [(r.loss, r.metric) for r in (scored[i] for i in range(4))] == \
                   [(r.loss, r.metric) for r in local]

    # Chunk by chunk: each chunk's running scores come back to the driver, which stops
    # trial 0 after its first chunk; the others finish with the same scores as in one go.
    assert_judged_chunk_by_chunk(
        lambda decide_for: on_ray(runner, runner.bench.paths, decide_for), runner, points, local)


def test_workers_default_to_one_per_gpu_else_one_per_cpu(glue_root, tmp_path):
    data = tiny_study_dict(glue_root, tmp_path, name="shape")
    config = parse_config(data | {"device": "auto"}, "test", tmp_path)
    assert WorkerShape.for_cluster(config, {"CPU": 16, "GPU": 4}) == WorkerShape(4, 1.0, 1.0)
    assert WorkerShape.for_cluster(config, {"CPU": 6}) == WorkerShape(6, 1.0, 0.0)
    on_cpu = parse_config(data | {"ray": {"cpus_per_worker": 2}}, "test", tmp_path)
    assert WorkerShape.for_cluster(on_cpu, {"CPU": 16, "GPU": 4}) == WorkerShape(8, 2.0, 0.0)
    fixed = parse_config(data | {"ray": {"workers": 3}}, "test", tmp_path)
    assert WorkerShape.for_cluster(fixed, {"CPU": 2}).workers == 3
