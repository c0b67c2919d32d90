"""Crash safety, end to end: a study killed with SIGKILL at random moments (training,
statistics, baselines, generation, evaluation chunk by chunk, writing) resumes with every
completed trial intact, every early-stopped trial still stopped with the same scores, the
trial in flight re-run once from its first row, and an uncorrupted store.

``BOMERGE_CRASH_KILLS`` (default 10) and ``BOMERGE_CRASH_SEED`` (default 0) choose how many
kill points and which; CI runs the default.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from bomerge.search.records import load_records
from bomerge.search.study.lock import running_holder
from bomerge.search.study.store import StudyStore
from bomerge.train.snapshots import MANIFEST
from tests.conftest import tiny_study_dict, write_config
from tests.helpers import assert_one_line_error, bomerge_here

KILLS = int(os.environ.get("BOMERGE_CRASH_KILLS", "10"))
SEED = int(os.environ.get("BOMERGE_CRASH_SEED", "0"))
BUDGET = 12
FINISHED = ("COMPLETED", "EARLY_STOPPED")


# Forks real `bomerge` processes from an interpreter that has already imported bomerge, Ax
# and transformers: each kill then costs a fork instead of ~5 s of imports. The forked child
# runs the unmodified CLI and is killed with a real SIGKILL.
LAUNCHER = """
import json, os, sys
import bomerge.cli, bomerge.search.runner
for line in sys.stdin:
    request = json.loads(line)
    if request[0] == "wait":
        _, status = os.waitpid(request[1], 0)
        print(json.dumps(os.waitstatus_to_exitcode(status)), flush=True)
        continue
    pid = os.fork()
    if pid == 0:
        os.setsid()
        log = os.open(request[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1), os.dup2(log, 2)
        sys.argv = ["bomerge", *request[2:]]
        try:
            bomerge.cli.main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    print(json.dumps(pid), flush=True)
"""


class Launcher:
    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def _ask(self, request: list) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def start(self, log: Path, *args: str) -> int:
        return self._ask(["run", str(log), *args, "-q"])

    def wait(self, pid: int) -> int:
        return self._ask(["wait", pid])

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def finished(pid: int) -> bool:
    """The child has exited (a zombie until the launcher reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def evaluation_processes() -> list[int]:
    """Running evaluation processes of ``executor: process`` (any study's)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"evaluation_process import serve_on" in cmdline.read_bytes() and \
                    not finished(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def phase(store: StudyStore) -> str:
    """Where the study stood when it was killed, from what is on disk."""
    if not store.exists():
        return "creating the study"
    if not (store.candidates_dir / MANIFEST).is_file():
        return "training"
    if not list(store.statistics_dir.glob("*.safetensors")):
        return "statistics"
    if len(store.read_baselines()) < 5:
        return "baselines"
    return f"search ({len(store.read_log())} trials logged)"


class Invariants:
    """What must hold after every kill: contiguous trial indices, at most the one trial in
    flight unfinished, completed trials' scores never changing, the log holding each
    completed trial once with the same scores, and readable files."""

    def __init__(self, store: StudyStore, in_flight: int = 1) -> None:
        self.store = store
        self.in_flight = in_flight
        self.most_unfinished = 0  # the most trials a kill left unfinished
        self.scores: dict[int, tuple[float, float]] = {}

    def check(self) -> list:
        store = self.store
        if not store.exists():
            return []
        records = load_records(store)
        indices = [r.index for r in records]
        assert indices == list(range(len(records))), indices
        unfinished = [r for r in records if r.status not in FINISHED + ("FAILED",)]
        # q = 1: only the trial in flight; pipelined, the batch evaluated and the next one
        assert len(unfinished) <= self.in_flight, unfinished
        self.most_unfinished = max(self.most_unfinished, len(unfinished))
        for r in records:
            if r.status in FINISHED:  # a stopped trial stays stopped, with the same scores
                seen = self.scores.setdefault(r.index, (r.status, r.loss, r.metric))
                assert (r.status, r.loss, r.metric) == seen, (r.index, seen, r.loss, r.metric)
        logged = [line for line in store.read_log() if line.get("status", "COMPLETED") in FINISHED]
        assert len({line["trial"] for line in logged}) == len(logged)  # never counted twice
        for line in logged:  # (Ax's SQL store keeps 10 significant digits)
            assert (line["loss"], line["metric"]) == pytest.approx(
                self.scores[line["trial"]][1:], rel=1e-9)
        for label, record in store.read_baselines().items():
            assert record["label"] == label
        for file in store.statistics_dir.glob("*.safetensors"):
            with safe_open(str(file), framework="pt") as handle:  # complete, never partial
                assert handle.metadata()["key"]
        if store.result_path.is_file():
            json.loads(store.result_path.read_text())
        manifest = store.candidates_dir / MANIFEST
        if manifest.is_file():
            json.loads(manifest.read_text())
        return records


# (merge section, search settings and the executor) of each study killed.
SETTINGS = {
    "fisher": ({"method": "fisher"}, {}),
    # the method searched: a hierarchical space whose members are prepared when first
    # chosen, so kills land in those preparations too
    "method-choice": ({"method": ["fisher", "ties", "weights"]}, {}),
    # batches of 4 generated while the previous batch is evaluated in a worker thread
    "pipelined": ({"method": "fisher"}, {"overlap": True, "batch_size": 4}),
    # the same pipeline, evaluated in a process of its own (`executor: process`): a kill of
    # the study leaves that process to end itself
    "evaluation-process": ({"method": "fisher"}, {"overlap": True, "batch_size": 4,
                                                  "executor": "process"}),
}


@pytest.mark.slow  # over 15 s: `pytest -m slow` (docs/testing.md)
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_sigkill_at_random_moments_loses_nothing(glue_root: Path, tmp_path: Path, capsys,
                                                 setting: str):
    merge, settings = SETTINGS[setting]
    settings = dict(settings)
    executor = settings.pop("executor", "local")
    # pipelined batches finish a budget sooner: a larger one keeps every kill in a run
    budget = BUDGET * 2 if settings.get("batch_size", 1) > 1 else BUDGET
    studies = tmp_path / "studies"
    # Trials are scored in chunks and may be stopped early, so kills land between chunks too.
    data = tiny_study_dict(glue_root, studies, name="k", trials=budget, initial_trials=2,
                           early_stopping={"enabled": True, "chunks": 4, "percentile": 50},
                           **settings)
    data["merge"] = merge | {"statistics": {"examples": 64}}
    data["executor"] = executor
    config = write_config(tmp_path / "k.yaml", data)
    store = StudyStore(studies / "k")
    invariants = Invariants(store, in_flight=2 * settings.get("batch_size", 1))
    rng = random.Random(SEED)
    kills: list[str] = []
    refused_second_writer = False

    launcher = Launcher()
    started = time.monotonic()
    try:
        for n in range(KILLS):
            log = tmp_path / f"run-{n}.log"
            pid = launcher.start(log, *(["study", "resume", "k", "--studies-dir", str(studies)]
                                        if store.exists() else ["study", "run", str(config)]))
            # A random moment after a chosen event, so that kills land in every phase: in
            # training, right after it (statistics, baselines), then during the trial after
            # the next one logged (generation, merge, evaluation, the writes completing it).
            logged = len(store.read_log()) if store.exists() else 0
            trigger = [lambda: store.candidates_dir.is_dir(),
                       lambda: (store.candidates_dir / MANIFEST).is_file()][n] if n < 2 else \
                (lambda: len(store.read_log()) > logged)  # noqa: B023 - used in this iteration
            delay = rng.uniform(0.0, 0.3 if n < 2 else 1.0)
            while not finished(pid) and not trigger():
                if not refused_second_writer and running_holder(store.directory) is not None:
                    second = bomerge_here(capsys, "study", "resume", "k", "--studies-dir",
                                          str(studies))
                    assert_one_line_error(second, "study 'k' is being run by", f"pid {pid}",
                                           "started")
                    refused_second_writer = True
                time.sleep(0.01)
            time.sleep(delay)
            where = phase(store)
            if not finished(pid):
                os.kill(pid, signal.SIGKILL)
                assert launcher.wait(pid) == -signal.SIGKILL
                kills.append(f"+{delay:.2f}s: {where} [{time.monotonic() - started:.1f}]")
            else:
                assert launcher.wait(pid) == 0, log.read_text()
            invariants.check()
        assert refused_second_writer
        log = tmp_path / "final.log"
        final = launcher.start(log, "study", "resume", "k", "--studies-dir", str(studies))
        assert launcher.wait(final) == 0, log.read_text()
    finally:
        launcher.close()
    records = invariants.check()
    search = [r for r in records if r.node != "baseline"]
    assert len(search) == budget  # the budget, not more: no trial counted twice
    assert all(r.status in FINISHED for r in records)
    assert sorted(line["trial"] for line in store.read_log()) == [r.index for r in records]
    assert json.loads(store.result_path.read_text())["trials"] == len(records)
    assert len(kills) >= min(KILLS, 10) - 2, kills  # (a run may finish before its kill)
    if settings.get("batch_size", 1) > 1:  # some kill landed while a batch was in flight
        assert invariants.most_unfinished > 1, kills
    if executor == "process":  # every killed run's evaluation process ended by itself
        deadline = time.monotonic() + 10
        while evaluation_processes():
            assert time.monotonic() < deadline, evaluation_processes()
            time.sleep(0.1)
    print("\n".join(["kill points:", *kills,
                     f"most trials left unfinished by a kill: {invariants.most_unfinished}"]))
