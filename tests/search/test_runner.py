"""bomerge.search.runner (StudyRunner, a study's run): bad trials do not kill a study; a study
whose trials keep failing stops with a clear message; an interrupted trial is re-run, not
counted twice; user points are labelled arms; overlapped and pipelined search score what a
trial scores alone; generation runs on its own torch threads; the finished study's result
holds both picks and their intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.search.records import load_records
from bomerge.search.runner import StudyRunner
from bomerge.tasks.base import EvalResult
from tests.conftest import candidates_study
from tests.helpers import assert_tables_read_as_ax_decodes


def runner_for(glue_root: Path, candidates: list[Path], tmp_path: Path, **search) -> StudyRunner:
    return candidates_study(glue_root, candidates, tmp_path / "studies", "flaky", **search)


def sabotage(runner: StudyRunner, plan: dict[int, str]) -> list[int]:
    """Make the evaluator's n-th call (counting from 0) give NaN ('nan') or raise ('oom');
    returns the list of calls made."""
    runner.open()
    evaluator = runner.bench.selection
    real = evaluator.evaluate
    calls: list[int] = []

    def evaluate(params, *rest):
        n = len(calls)
        calls.append(n)
        if plan.get(n) == "oom":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        result = real(params, *rest)
        if plan.get(n) == "nan":
            return EvalResult(math.nan, result.metric, result.extra, result.n)
        return result

    evaluator.evaluate = evaluate  # type: ignore[method-assign]
    runner.open = lambda: None  # keep the sabotaged evaluator  # type: ignore[method-assign]
    runner.client = runner._client(runner.store.connect())
    return calls


def test_nan_and_raising_trials_are_failed_in_ax_and_the_study_goes_on(
    glue_root, tiny_candidates, tmp_path
):
    runner = runner_for(glue_root, tiny_candidates, tmp_path, trials=5, initial_trials=2,
                        baselines=False)
    sabotage(runner, {1: "nan", 2: "oom"})
    outcome = runner.run()
    records = {r.index: r for r in load_records(runner.store)}
    assert len(records) == 5
    assert [records[i].status for i in range(5)] == ["COMPLETED", "FAILED", "FAILED",
                                                     "COMPLETED", "COMPLETED"]
    experiment = runner.client._experiment
    assert "non-finite loss nan" in experiment.trials[1].status_reason
    assert "OutOfMemoryError" in experiment.trials[2].status_reason
    log = {r["trial"]: r for r in runner.store.read_log()}
    assert log[1]["status"] == "FAILED" and "non-finite loss" in log[1]["reason"]
    assert log[2]["status"] == "FAILED" and "out of memory" in log[2]["reason"]
    assert outcome.pick.index in (0, 3, 4)  # never a failed trial
    assert_tables_read_as_ax_decodes(runner.store)


def test_a_study_whose_trials_keep_failing_stops_after_the_limit(
    glue_root, tiny_candidates, tmp_path
):
    runner = runner_for(glue_root, tiny_candidates, tmp_path, trials=10, initial_trials=2,
                        baselines=False, max_consecutive_failures=3)
    calls = sabotage(runner, {n: "nan" for n in range(1, 100)})
    with pytest.raises(BomergeError, match=r"stopped: 3 trials in a row failed \(last: trial 3, "
                                           r"non-finite loss nan\).*max_consecutive_failures: 3"):
        runner.run()
    assert len(calls) == 4  # one good trial, then three failures, then nothing more
    statuses = [r.status for r in load_records(runner.store)]
    assert statuses == ["COMPLETED", "FAILED", "FAILED", "FAILED"]


def test_the_failure_limit_is_a_config_key(tmp_path):
    data = {"name": "x", "task": {"name": "sst2"}, "search": {"max_consecutive_failures": 0}}
    with pytest.raises(BomergeError, match="search.max_consecutive_failures"):
        parse_config(data, "c.yaml", tmp_path)


def test_a_trial_left_running_by_a_crash_is_rerun_once(glue_root, tiny_candidates, tmp_path):
    runner = runner_for(glue_root, tiny_candidates, tmp_path, trials=2, initial_trials=2,
                        baselines=False)
    runner.open()
    runner.client = runner._client(runner.store.connect())
    # what a crash between Ax creating a trial and completing it leaves: a RUNNING trial
    (index, params), = runner.client.get_next_trials(max_trials=1).items()
    assert runner.client._experiment.trials[index].status.is_running
    runner.run()
    log = [r["trial"] for r in runner.store.read_log()]
    assert sorted(log) == [0, 1] and len(log) == 2
    records = load_records(runner.store)
    assert [r.status for r in records] == ["COMPLETED", "COMPLETED"]
    assert json.loads(runner.store.result_path.read_text())["trials"] == 2


def test_user_points_are_evaluated_as_labelled_arms_before_the_search(
    glue_root, tiny_candidates, tmp_path
):
    runner = runner_for(glue_root, tiny_candidates, tmp_path, trials=1, initial_trials=1,
                        baselines=False, points=[{"w": [2.0, 3.0, 5.0]}])
    runner.run()
    records = load_records(runner.store)
    assert [r.arm for r in records][:1] == ["point_1"] and len(records) == 2
    assert records[0].status == "COMPLETED"
    assert records[0].coefficients["w"] == pytest.approx([0.2, 0.3, 0.5], abs=1e-6)
    runner.run(extra_trials=0)  # a resume does not evaluate the point again
    assert [r["arm"] for r in runner.store.read_log()].count("point_1") == 1


def test_a_bfloat16_pool_study_stores_its_candidates_in_bfloat16_and_merges_in_float32(
        glue_root, tiny_candidates, tmp_path):
    runner = candidates_study(glue_root, tiny_candidates, tmp_path / "studies", "half",
                              extra={"merge": {"pool_dtype": "bfloat16"}}, trials=2,
                              initial_trials=2, baselines=False)
    runner.run()
    assert runner.bench.pool.stacked.dtype == torch.bfloat16
    assert runner.bench.buffer.dtype == torch.float32
    assert runner.store.read_config().merge.pool_dtype == "bfloat16"  # what resume reloads
    records = load_records(runner.store)
    assert [r.status for r in records] == ["COMPLETED", "COMPLETED"]
    assert all(r.loss is not None and math.isfinite(r.loss) for r in records)


def test_a_completed_trial_whose_scores_were_not_saved_is_rerun(
    glue_root, tiny_candidates, tmp_path
):
    """Ax's own ``complete_trial`` saves a trial's status and its data in separate
    transactions; a store it left with a COMPLETED trial without scores (a kill between them)
    has that trial evaluated again by the next run."""
    from ax.storage.sqa_store.db import session_scope
    from ax.storage.sqa_store.sqa_classes import SQAData

    runner = runner_for(glue_root, tiny_candidates, tmp_path, trials=2, initial_trials=2,
                        baselines=False)
    runner.run()
    scores = {r.index: (r.loss, r.metric) for r in load_records(runner.store)}
    with session_scope() as session:  # what the kill leaves: trial 1's data rows gone
        session.query(SQAData).filter(SQAData.trial_index == 1).delete()
    assert load_records(runner.store)[1].loss is None
    runner.run(extra_trials=0)
    again = {r.index: (r.loss, r.metric) for r in load_records(runner.store)}
    assert again == scores
    assert [r["trial"] for r in runner.store.read_log()] == [0, 1, 1]  # re-evaluated once


def test_a_pick_that_is_a_baseline_arm_reports_the_baselines_recorded_report_scores(
        glue_root, tiny_candidates, tmp_path, monkeypatch):
    runner = runner_for(glue_root, tiny_candidates, tmp_path, trials=0, initial_trials=1)

    def merge_again(*args):
        raise AssertionError("finish must not merge again: the baseline was reported")

    monkeypatch.setattr("bomerge.search.rebuild.trial_merge", merge_again)
    monkeypatch.setattr("bomerge.search.rebuild.baseline_merge", merge_again)
    outcome = runner.run()
    pick = outcome.report["scores"]["pick"]
    recorded = runner.store.read_baselines()[pick["arm"]]
    assert recorded["trial"] == pick["trial"]
    assert pick["report"] == recorded["report"]


def test_overlapped_search_completes_the_budget_with_identical_scores(
    glue_root, tiny_candidates, tmp_path
):
    """search.overlap generates the next trial while the current one is evaluated in a
    worker thread; a point scores exactly what it scores when evaluated on its own."""
    runner = runner_for(glue_root, tiny_candidates, tmp_path / "a", trials=5, initial_trials=2,
                        baselines=False, overlap=True)
    runner.run()
    records = load_records(runner.store)
    assert [r.status for r in records] == ["COMPLETED"] * 5
    assert [r.node for r in records] == ["Sobol"] * 2 + ["qLogNEHVI"] * 3
    log = {line["trial"]: line for line in runner.store.read_log()}
    assert sorted(log) == list(range(5))
    assert all(line["t_end"] >= line["t_start"] > 0 and "gen_s" in line for line in log.values())

    alone = runner_for(glue_root, tiny_candidates, tmp_path / "b", trials=0, baselines=False)
    alone.open()
    for index, trial in runner.client._experiment.trials.items():
        outcome = alone._evaluate(dict(trial.arm.parameters))
        assert ((outcome.result.loss, outcome.result.metric)
                == (log[index]["loss"], log[index]["metric"]))


def test_generation_runs_with_its_own_torch_threads_and_evaluation_keeps_the_processs(
        glue_root, tiny_candidates, tmp_path, monkeypatch):
    """search.generation_threads holds during each generation call only: the evaluation,
    after it in the same thread (in turn) or beside it in the worker thread (overlap),
    keeps the process's torch threads."""
    from bomerge.search import runner as runner_module

    seen: dict[str, set[int]] = {"generation": set(), "evaluation": set()}
    real_propose = runner_module.propose

    def propose(*args, **kwargs):
        seen["generation"].add(torch.get_num_threads())
        return real_propose(*args, **kwargs)

    monkeypatch.setattr(runner_module, "propose", propose)
    process_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for overlap in (False, True):
            runner = runner_for(glue_root, tiny_candidates, tmp_path / str(overlap), trials=4,
                                initial_trials=2, baselines=False, overlap=overlap,
                                generation_threads=1)
            real_evaluate = runner._evaluate

            def evaluate(params, on_chunk=None, real=real_evaluate):
                seen["evaluation"].add(torch.get_num_threads())
                return real(params, on_chunk)

            runner._evaluate = evaluate  # type: ignore[method-assign]
            runner.run()
        assert seen == {"generation": {1}, "evaluation": {2}}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(process_threads)


@pytest.mark.parametrize("batch_size", [4, "auto"])
def test_a_pipelined_batch_study_completes_its_budget_from_sobol_to_the_gp(
        glue_root, tiny_candidates, tmp_path, batch_size):
    """With batches larger than the Sobol trials, the pipeline asks for the GP's first batch
    before any score exists: it waits for one instead of failing, and every trial of the
    budget is scored and logged once."""
    runner = runner_for(glue_root, tiny_candidates, tmp_path, trials=8, initial_trials=2,
                        baselines=False, overlap=True, batch_size=batch_size)
    runner.run()
    records = load_records(runner.store)
    assert [r.status for r in records] == ["COMPLETED"] * 8
    nodes = [r.node for r in records]
    sobol = nodes.count("Sobol")  # a first batch is drawn whole from the Sobol node
    assert sobol >= 2 and nodes == ["Sobol"] * sobol + ["qLogNEHVI"] * (8 - sobol)
    assert sorted(line["trial"] for line in runner.store.read_log()) == list(range(8))


def test_result_holds_both_picks_and_the_picks_intervals_against_every_baseline(
        glue_root, tiny_candidates, tmp_path, capsys, monkeypatch):
    """search.pick_by: model picks on the GP's posterior means; result.json records both
    picks, the kept report-row predictions reproduce the report scores, every baseline has
    a paired bootstrap interval (recomputable from the study alone), `study pareto` prints
    them, and a study whose model cannot be fitted falls back to the observed pick, saying so."""
    from bomerge.cli.app import out
    from bomerge.report.view import StudyView
    from bomerge.search.claims import read_predictions, study_claims
    from bomerge.search.records import study_pick
    from bomerge.tasks import get_task
    from tests.helpers import bomerge_here

    runner = runner_for(glue_root, tiny_candidates, tmp_path, trials=3, initial_trials=2,
                        pick_by="model")
    outcome = runner.run()
    store, config = runner.store, runner.config
    result = store.read_result()
    assert ((result["pick_by"], result["picked_on"], result["model_pick_note"])
            == ("model", "model", None))
    picks = result["picks"]
    assert (result["scores"]["pick"] == picks["model"]
            and outcome.pick.index == picks["model"]["trial"])
    assert picks["observed"]["trial"] == study_pick(load_records(store), config).index
    assert {"loss", "metric"} <= set(picks["model"]["predicted"])
    assert StudyView.load(store).pick.index == picks["model"]["trial"]

    task = get_task(config.task)
    for entry in [*(p for p in picks.values() if p is not None), *result["scores"].values()]:
        rows = read_predictions(store, entry.get("predictions") or entry["arm"])
        assert rows is not None and len(rows.labels) == result["report_rows"]
        assert task.summarize(rows).metric == entry["report"]["metric"]  # the same numbers

    claims = result["claims"]
    assert ((claims["resamples"], claims["level"], claims["rows"])
            == (2000, 0.95, result["report_rows"]))
    baselines = set(result["scores"]) - {"pick"}
    assert {"best_single", "last_candidate", "uniform"} <= baselines <= set(claims["against"])
    for claim in claims["against"].values():
        assert claim["low"] <= claim["high"] and claim["verdict"] in ("better", "worse", "tie")
        assert (claim["verdict"] == "tie") == (claim["low"] <= 0 <= claim["high"])
    assert study_claims(store) == claims  # recomputed from the stored predictions alone

    monkeypatch.setattr(out, "_width", 250)
    where = ["--studies-dir", str(tmp_path / "studies")]
    shown = bomerge_here(capsys, "study", "pareto", "flaky", *where)
    assert shown.returncode == 0, shown.stderr
    assert "pick − this [95% CI]" in shown.stdout
    assert "Pick chosen on the GP's posterior means (search.pick_by: model)." in shown.stdout
    report_table = shown.stdout[shown.stdout.index("pick − this [95% CI]"):]
    uniform = next(line for line in report_table.splitlines() if "│ uniform" in line)
    claim = claims["against"]["uniform"]
    assert f"{claim['difference']:+.4f} [{claim['low']:+.4f}, {claim['high']:+.4f}] " \
           f"{claim['verdict']}" in uniform
    listing = json.loads(bomerge_here(capsys, "study", "pareto", "flaky", "--json", *where).stdout)
    assert listing["claims"] == claims and listing["pick"] == picks["model"]["trial"]

    def no_model(*args):
        raise RuntimeError("cannot fit")

    monkeypatch.setattr("bomerge.search.picks.posterior_means", no_model)
    fallback = runner.finish()
    result = store.read_result()
    assert result["picked_on"] == "observed" and result["picks"]["model"] is None
    assert "no surrogate model could be fitted" in result["model_pick_note"]
    assert "cannot fit" in result["model_pick_note"]
    assert fallback.pick.index == result["scores"]["pick"]["trial"] == picks["observed"]["trial"]

    def favour_trial_0(client, indices, config):  # a model whose means rank trial 0 first
        return {i: {"loss": 0.5, "metric": 1.0 - 0.01 * i} for i in indices}

    monkeypatch.setattr("bomerge.search.picks.posterior_means", favour_trial_0)
    assert runner.finish().pick.index == 0 != picks["observed"]["trial"]
    result = store.read_result()
    assert result["picks"]["model"]["predicted"] == {"loss": 0.5, "metric": 1.0}
    assert result["picks"]["model"]["predictions"] == "candidate_0"  # a baseline arm's rows
    assert "observed_pick" in result["claims"]["against"]
    assert study_claims(store) == result["claims"]


def test_picking_on_the_model_before_any_gp_trial_is_refused(tmp_path):
    from bomerge.search.config_names import check_names

    for trials, initial in ((0, 4), (4, 4), (3, 5)):
        config = parse_config({"name": "x", "task": {"name": "sst2"}, "search": {
            "pick_by": "model", "trials": trials, "initial_trials": initial}}, "c.yaml", tmp_path)
        with pytest.raises(BomergeError, match=r"^c.yaml: search.pick_by 'model' .* search.trials "
                                               rf"\({trials}\) does not exceed"):
            check_names(config, "c.yaml")
    config = parse_config({"name": "x", "task": {"name": "sst2"}, "search": {
        "pick_by": "model", "trials": 5, "initial_trials": 4}}, "c.yaml", tmp_path)
    assert check_names(config, "c.yaml") is config
