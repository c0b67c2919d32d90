"""Early stopping (``search.early_stopping``): trials scored chunk by chunk on the study's
fixed selection order, hopeless ones stopped (Ax's percentile rule or the dominance rule),
never picked, and a
trial that is not stopped scoring exactly what it scores without early stopping."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.search.pareto import pareto_set
from bomerge.search.preflight import preflight_study
from bomerge.search.records import load_records
from bomerge.search.runner import StudyRunner
from bomerge.search.strategies import STRATEGIES
from bomerge.search.strategies.gp import GaussianProcess
from tests.conftest import candidates_study, tiny_study_dict
from tests.helpers import assert_tables_read_as_ax_decodes, bomerge_here

STOPPING = {"enabled": True, "chunks": 4, "min_progression": 0.25, "percentile": 50}


def study(glue_root: Path, candidates: list[Path], studies: Path, name: str,
          **search) -> StudyRunner:
    return candidates_study(glue_root, candidates, studies, name, trials=4, initial_trials=4,
                            **search)


@pytest.fixture(scope="module")
def with_untrained(tiny_candidates: list[Path]) -> list[Path]:
    """The untrained start of the tiny run beside two of its snapshots: points weighted
    towards it are hopeless, the rest are not."""
    return [tiny_candidates[0].parent / "base", tiny_candidates[0], tiny_candidates[-1]]


@pytest.fixture(scope="module", params=["percentile", "dominance"])
def stopped_and_full(request, glue_root, with_untrained,
                     tmp_path_factory) -> tuple[StudyRunner, StudyRunner]:
    """The same study with early stopping (each rule) and without."""
    studies = tmp_path_factory.mktemp(f"early-stopping-{request.param}")
    stopping = study(glue_root, with_untrained, studies, "stopping",
                     early_stopping={**STOPPING, "rule": request.param})
    full = study(glue_root, with_untrained, studies, "full")
    stopping.run()
    full.run()
    return stopping, full


def test_a_hopeless_trial_is_stopped_with_its_running_scores_and_never_picked(
    stopped_and_full, capsys
):
    runner, _ = stopped_and_full
    records = load_records(runner.store)
    stopped = [r for r in records if r.status == "EARLY_STOPPED"]
    assert stopped, [(r.index, r.status, r.metric) for r in records]
    rows = runner.bench.selection.n
    logged = {line["trial"]: line for line in runner.store.read_log()}
    for record in stopped:
        line = logged[record.index]
        assert line["status"] == "EARLY_STOPPED" and 0 < line["rows"] < rows
        assert line["rows"] >= STOPPING["min_progression"] * rows
        assert record.node == "Sobol"  # only search trials are stopped; baselines never
        assert record.metric is not None  # its running scores are kept
    assert all(logged[r.index]["rows"] == rows for r in records if r.status == "COMPLETED")
    front = {r.index for r in pareto_set(records)}
    assert not front & {r.index for r in stopped}
    picks = runner.store.read_result()["picks"]
    assert picks and all(p["trial"] not in {r.index for r in stopped} for p in picks.values())
    table = bomerge_here(capsys, "study", "pareto", "stopping", "--all", "--studies-dir",
                         str(runner.store.directory.parent))
    assert table.returncode == 0 and "stopped early" in table.stdout
    assert_tables_read_as_ax_decodes(runner.store)  # scores at each trial's last progression


def test_a_trial_that_is_not_stopped_scores_exactly_as_without_early_stopping(stopped_and_full):
    """Same seed, same Sobol points: every completed trial's full-row scores are the ones
    the study without early stopping recorded for the same point, bit for bit."""
    stopping, full = stopped_and_full
    by_point = {repr(r.coefficients): r for r in load_records(full.store)}
    compared = 0
    for record in load_records(stopping.store):
        if record.status != "COMPLETED":
            continue
        twin = by_point[repr(record.coefficients)]
        assert (record.loss, record.metric) == (twin.loss, twin.metric)
        compared += 1
    assert compared >= 4
    assert (stopping.store.selection_order_path.read_text()
            == full.store.selection_order_path.read_text())


def test_early_stopping_with_a_strategy_that_cannot_use_it_is_refused(
    glue_root, tiny_candidates, tmp_path
):
    class Blind(GaussianProcess):
        name: ClassVar[str] = "blind"
        supports_early_stopping: ClassVar[bool] = False

    STRATEGIES["blind"] = Blind
    try:
        data = tiny_study_dict(glue_root, tmp_path, name="b", strategy="blind",
                               early_stopping=STOPPING)
        del data["train"]
        data["candidates"] = {"paths": [str(p) for p in tiny_candidates]}
        with pytest.raises(BomergeError, match="search.strategy 'blind' cannot use partial scores"):
            preflight_study(parse_config(data, "test", tmp_path), [])
    finally:
        del STRATEGIES["blind"]


def test_more_chunks_than_selection_rows_is_refused(glue_root, tiny_candidates, tmp_path):
    data = tiny_study_dict(glue_root, tmp_path, name="c", early_stopping=STOPPING | {"chunks": 500})
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in tiny_candidates]}
    with pytest.raises(BomergeError, match=r"chunks 500: more chunks than the 120 selection rows"):
        preflight_study(parse_config(data, "test", tmp_path), [])


@pytest.mark.parametrize(("key", "value", "message"), [
    ("chunks", 0, "greater than or equal to 1"),
    ("min_progression", 1.5, "min_progression 1.5 is a fraction"),
    ("min_progression", 0, "min_progression 0.0 is a fraction"),
])
def test_bad_early_stopping_settings_are_one_line_errors(glue_root, tmp_path, key, value, message):
    data = tiny_study_dict(glue_root, tmp_path, early_stopping=STOPPING | {key: value})
    with pytest.raises(BomergeError, match=message):
        parse_config(data, "test", tmp_path)
