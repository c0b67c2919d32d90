"""The study's two picks and its stored result.

The pick rule (``search.pick``) chooses a trial on the Pareto front of the selection rows.
The best *observed* point of many noisy evaluations is biased upwards (the winner's curse),
so the rule is also applied to the surrogate's posterior means at the evaluated points (a
GP fitted, at finish time, to every completed trial with the search strategy's surrogate),
which shrinks a lucky point towards its neighbours. ``search.pick_by`` says which of the two
is *the* pick; both are scored on the report rows and recorded in ``result.json``, with the
pick's paired bootstrap intervals against every baseline (``bomerge.search.claims``), so a
study shows which choice generalised.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from bomerge.search.baselines import baseline_scores
from bomerge.search.claims import compared, pick_claims
from bomerge.search.pareto import TrialRecord, same_record
from bomerge.search.records import above_floors, study_objectives, study_pick
from bomerge.search.strategies import get_strategy

if TYPE_CHECKING:
    from bomerge.config import StudyConfig
    from bomerge.search.study.store import StudyStore
    from bomerge.tasks import Task

OBSERVED = "observed"
MODEL = "model"
#: The pick among the study's own trials, recorded when the pick is a recipe beside them.
TRIALS = "trials"


@dataclass(frozen=True)
class Picks:
    """The pick on the observed selection scores, the pick on the surrogate's posterior
    means (None, with ``note`` saying why, when no model could be fitted) and the means it
    was chosen on."""

    observed: TrialRecord
    model: TrialRecord | None
    predicted: dict[str, float]
    pick_by: str
    note: str | None = None
    #: what the same way picks among the study's own trials (``search.pick_from: trials``)
    among_trials: TrialRecord | None = None

    @property
    def picked_on(self) -> str:
        """What chose the study's pick: ``model`` as configured, ``observed`` otherwise
        (configured, or the fallback when no model could be fitted)."""
        return MODEL if self.pick_by == MODEL and self.model is not None else OBSERVED

    @property
    def pick(self) -> TrialRecord:
        """The study's pick: the model pick when it chose, else the observed one."""
        return self.model if self.picked_on == MODEL and self.model is not None else self.observed

    def records(self) -> dict[str, TrialRecord]:
        """Each pick by what chose it (``observed`` first)."""
        found = {OBSERVED: self.observed}
        if self.model is not None:
            found[MODEL] = self.model
        if self.among_trials is not None and self.pick.index is None:
            found[TRIALS] = self.among_trials
        return found


def posterior_means(client: Any, indices: list[int],
                    config: StudyConfig) -> dict[int, dict[str, float]]:
    """The posterior mean of every recorded score at each trial of ``indices`` (completed
    trials), from a GP fitted to those trials' scores with the study strategy's surrogate
    (the generation strategy itself is not touched). Seeded by the study's seed."""
    import torch
    from ax.adapter.registry import Generators
    from ax.core.observation import ObservationFeatures

    experiment = client._experiment
    strategy = get_strategy(config.search.strategy)
    multi = len(study_objectives(config)) > 1
    kwargs_of = getattr(strategy, "generator_kwargs", None)
    kwargs = kwargs_of(multi) if callable(kwargs_of) else {}
    points = [ObservationFeatures(parameters=dict(experiment.trials[i].arm.parameters))
              for i in indices]
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")
        torch.manual_seed(config.seed)
        adapter = Generators.BOTORCH_MODULAR(
            experiment=experiment, data=experiment.lookup_data(trial_indices=indices), **kwargs)
        means, _ = adapter.predict(points)
    return {index: {name: float(values[row]) for name, values in means.items()}
            for row, index in enumerate(indices)}


def study_picks(records: list[TrialRecord], config: StudyConfig, client: Any) -> Picks:
    """Both picks of a study among ``records`` (``records.pickable``: its trials, and the
    recorded baselines beside them): the rule on the observed scores, and on the posterior
    means at the same (completed) trials, each baseline at its observed scores."""
    observed = study_pick(records, config)
    done = [r for r in records if r.completed and r.index is not None]
    try:
        means = posterior_means(client, [r.index for r in done], config)  # type: ignore[misc]
    except Exception as error:  # noqa: BLE001 - any fitting failure falls back, clearly
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        then = ("the pick uses the observed scores" if config.search.pick_by == MODEL
                else "no model pick is recorded")
        return Picks(observed, None, {}, config.search.pick_by,
                     f"no surrogate model could be fitted to the {len(done)} completed trials "
                     f"({reason[:200]}); {then}", among_trials(records, config))
    # A recorded baseline beside the trials is one fixed recipe, not the best of many
    # noisy draws: its observed scores carry no winner's curse and stand as they are.
    smoothed = [r for r in records if r.completed and r.index is None]
    for r in done:
        mean = means[r.index]  # type: ignore[index]
        smoothed.append(replace(
            r, loss=mean.get("loss", r.loss), metric=mean.get("metric", r.metric),
            extra={k: mean.get(k, v) for k, v in r.extra.items()}))
    chosen = study_pick(smoothed, config)
    model = next(r for r in records if same_record(r, chosen))
    predicted = {"loss": chosen.loss, "metric": chosen.metric, **chosen.extra}
    rounded = {k: round(float(v), 6) for k, v in predicted.items()}  # type: ignore[arg-type]
    trials = among_trials(smoothed if config.search.pick_by == MODEL else records, config)
    trials = next((r for r in records if trials is not None and same_record(r, trials)), None)
    return Picks(observed, model, rounded, config.search.pick_by, None, trials)


def among_trials(records: list[TrialRecord], config: StudyConfig) -> TrialRecord | None:
    """The rule's pick among the records that are the study's own trials, if any is."""
    own = [r for r in records if r.index is not None and r.completed]
    return study_pick(own, config) if own else None


def pick_entry(record: TrialRecord, report: dict[str, Any],
               predictions: str | None) -> dict[str, Any]:
    """A pick's row of ``result.json``: trial, arm, method, observed selection scores,
    report scores and the label its report-row predictions are stored under."""
    return {"trial": record.index, "arm": record.arm, "method": record.method,
            "selection": {"loss": record.loss, "metric": record.metric},
            "report": report, "predictions": predictions}


def study_result(config: StudyConfig, task: Task, store: StudyStore, records: list[TrialRecord],
                 picks: Picks, reported: dict[str, tuple[dict[str, Any], str | None]],
                 k: int, rows: tuple[int, int]) -> dict[str, Any]:
    """``result.json`` of a finished study: the pick rule and what it was applied to, both
    picks with their report scores, every recorded baseline's report scores, and the pick's
    paired bootstrap intervals against each baseline.

    ``reported`` holds, by what chose it (``observed``, ``model``), a pick's report scores
    and predictions label; ``rows`` is (selection rows, report rows)."""
    entries = {way: pick_entry(record, *reported[way]) for way, record in picks.records().items()}
    recorded = store.read_baselines()
    for entry in entries.values():
        if entry["trial"] is None:  # a recipe beside the trials: the options it was merged with
            entry["options"] = recorded[entry["arm"]].get("extra", {}).get("options", {})
    if MODEL in entries:
        entries[MODEL]["predicted"] = picks.predicted
    chosen = entries[picks.picked_on]
    scored: dict[str, dict[str, Any]] = {"pick": chosen}
    scored.update(baseline_scores(store.read_baselines(), k))
    ev = config.task.eval
    result = {
        "pick_rule": config.search.pick,
        "pick_loss_bound": config.search.pick_loss_bound,
        "pick_by": config.search.pick_by,
        "picked_on": picks.picked_on,
        "model_pick_note": picks.note,
        "selection": {"split": ev.split, "part": "selection", "fraction": ev.selection_fraction,
                      "rows": rows[0]},
        "trials": len(records),
        "metric": task.metric,
        "selection_rows": rows[0],
        "report_rows": rows[1],
        "pick_coefficients": picks.pick.coefficients,
        # False: no trial met every floor, so the pick was chosen among all of them
        "floors": dict(config.search.floors),
        "pick_above_floors": (above_floors(picks.pick, config.search.floors)
                              if config.search.floors else None),
        "scores": scored,
        "picks": {OBSERVED: entries[OBSERVED], MODEL: entries.get(MODEL),
                  **({TRIALS: entries[TRIALS]} if TRIALS in entries else {})},
    }
    result["claims"] = pick_claims(task, store, chosen["predictions"], compared(result))
    return result
