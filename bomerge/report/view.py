"""Everything a report or a Pareto table shows about a stored study, loaded once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.search.claims import compared
from bomerge.search.pareto import TrialRecord, pareto_set
from bomerge.search.records import (
    baseline_records,
    load_records,
    metric_columns,
    pick_rule_text,
    pickable,
    study_objectives,
    study_pick,
)
from bomerge.search.study.store import StudyStore, result_is_current
from bomerge.tasks import get_task


@dataclass
class StudyView:
    """A stored study's trials, other-method baselines, pick and stored result.

    ``complete`` is false while the search budget is not reached or a trial is still
    marked running. A result written before trials were added is out of date: ``result``
    is then None (its pick and report rows describe fewer trials than the tables show).
    """

    name: str
    config: StudyConfig
    records: list[TrialRecord]
    others: list[TrialRecord]
    pick: TrialRecord
    result: dict[str, Any] | None
    candidates: list[str]
    #: search trials the study aims at (``StudyStore.search_budget``); None: the config's
    budget: int | None = None

    @classmethod
    def load(cls, store: StudyStore) -> StudyView:
        config = store.read_config()
        records = load_records(store)
        if not any(r.completed for r in records):
            raise BomergeError(f"study '{store.name}' has no completed trial yet")
        result = store.read_result()
        if result is not None and not result_is_current(result, len(records)):
            result = None
        others = baseline_records(store)
        return cls(store.name, config, records, others,
                   stored_pick(pickable(records, store, config), config, result), result,
                   store.read_meta().candidates, store.search_budget(config))

    @property
    def extra_columns(self) -> list[str]:
        """Per-head metrics a several-head task records beside its average."""
        return metric_columns(self.config)

    @property
    def metric(self) -> str:
        return get_task(self.config.task).metric

    @property
    def search_trials(self) -> int:
        return sum(1 for r in self.records if not r.is_baseline)

    @property
    def running(self) -> list[int]:
        return [r.index for r in self.records if r.status == "RUNNING" and r.index is not None]

    @property
    def complete(self) -> bool:
        return (self.result is not None and not self.running
                and self.search_trials >= self.target)

    @property
    def target(self) -> int:
        return self.budget if self.budget is not None else self.config.search.trials

    @property
    def state(self) -> str:
        """One line for people: complete, or what is missing and how to continue."""
        if self.complete:
            return f"complete: {self.search_trials} search trials after the baseline arms"
        parts = [f"incomplete: {self.search_trials} search trials done "
                 f"(budget {self.target})"]
        if self.running:
            parts.append(f"trial {', '.join(map(str, self.running))} interrupted in flight")
        if self.result is None:
            parts.append("no report-row scores yet")
        return "; ".join(parts) + f" — continue with `bomerge study resume {self.name}`"

    @property
    def front(self) -> list[TrialRecord]:
        return pareto_set(self.records, study_objectives(self.config))

    def record(self, index: int) -> TrialRecord:
        """The trial ``index``, or a one-line error naming the trials that exist."""
        for r in self.records:
            if r.index == index:
                return r
        indices = [r.index for r in self.records if r.index is not None]
        raise BomergeError(
            f"study '{self.name}' has no trial {index} (trials {min(indices)}–{max(indices)})"
        )

    def selection_rule(self) -> str:
        """Which rows chose the pick, in words."""
        ev = self.config.task.eval
        cap = f", at most {ev.max_selection_examples} rows" if ev.max_selection_examples else ""
        on = ""
        if (self.result or {}).get("picked_on", self.config.search.pick_by) == "model":
            on = " on the GP's posterior means"
        return (f"selection part ({ev.selection_fraction:.0%}) of the '{ev.split}' split{cap}; "
                f"pick rule {pick_rule_text(self.config)}{on}")


def stored_pick(records: list[TrialRecord], config: StudyConfig,
                result: dict[str, Any] | None) -> TrialRecord:
    """The study's pick among ``records`` (``records.pickable``): the rule on the observed
    selection scores, or, when the study picks on the surrogate's posterior means
    (``search.pick_by: model``), the trial or baseline its stored result names (the model
    is fitted when the study finishes, not when it is read); the observed pick while no
    result names one."""
    observed = study_pick(records, config)
    if config.search.pick_by != "model" or not result or "scores" not in result:
        return observed
    named = result["scores"]["pick"]
    return next((r for r in records if r.index == named.get("trial")
                 and (r.index is not None or r.arm == named.get("arm"))), observed)


def pick_name(record: TrialRecord) -> str:
    """A pick for people: ``trial 9 (ties)``, or ``baseline 'mats' (mats)`` for a recorded
    recipe beside the study's trials."""
    if record.index is None:
        return f"baseline '{record.arm}' ({record.method})"
    return f"trial {record.index} ({record.method or record.arm})"


def report_rows(report: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The rows of a result's report table, by report metric, best first: the pick and what
    it is compared with (every recipe the study scored, and the pick the configuration did
    not choose when it is another trial)."""
    rows = [("pick", report["scores"]["pick"]), *compared(report).items()]
    return sorted(rows, key=lambda row: -row[1]["report"]["metric"])


def verdict(report: dict[str, Any]) -> str:
    """In words: the merge the study recommends and how every recipe it scored compares on
    the report rows ("beats" and "is beaten" only where the paired interval excludes 0)."""
    pick = report["scores"]["pick"]
    what = (f"trial {pick['trial']} ({pick.get('method') or pick.get('arm')})"
            if pick["trial"] is not None
            else f"the recipe '{pick.get('arm')}' ({pick.get('method')})")
    metric = report.get("metric", "metric")
    line = (f"The study recommends {what}: report {metric} {pick['report']['metric']:.4f} on "
            f"{report['report_rows']} rows it never saw.")
    against = (report.get("claims") or {}).get("against", {})
    judged = {label: claim["verdict"] for label, claim in against.items() if "verdict" in claim}
    if not judged:
        return line + " No paired intervals are stored to compare it with the recipes it scored."
    beaten = [label for label, v in judged.items() if v == "worse"]
    tied = [label for label, v in judged.items() if v == "tie"]
    if beaten:
        line += f" Beaten on the report rows by {', '.join(beaten)}"
    else:
        line += " No recipe it scored beats it on the report rows"
    line += (f"; ties {', '.join(tied)}" if tied else "; it beats every other") + "."
    return line


def pick_lines(report: dict[str, Any]) -> list[str]:
    """What chose the pick (observed scores or the surrogate's posterior means), what the
    other way picked, and what the intervals are."""
    picks = report.get("picks")
    if not picks:
        return []
    picked_on = report.get("picked_on", "observed")
    shown = {"observed": "the observed selection scores", "model": "the GP's posterior means"}
    configured = report.get("pick_by", "observed")
    lines = [f"Pick chosen on {shown[picked_on]} (search.pick_by: {configured})."]
    if report.get("model_pick_note"):
        lines.append(report["model_pick_note"] + ".")
    other = "model" if picked_on == "observed" else "observed"
    entry = picks.get(other)
    if entry is not None:
        same = entry["trial"] == report["scores"]["pick"]["trial"]
        lines.append(f"On {shown[other]} the rule picks "
                     + ("the same trial." if same else
                        f"trial {entry['trial']} (report {report['metric']} "
                        f"{entry['report']['metric']:.4f})."))
    claims = report.get("claims")
    if claims:
        lines.append(f"pick − this: the pick's report {report['metric']} minus the row's; in "
                     f"brackets its {claims['level']:.0%} interval ({claims['method']}, "
                     f"{claims['resamples']:,} resamples of {claims['rows']:,} rows); an "
                     "interval that holds 0 is a tie.")
    return lines
