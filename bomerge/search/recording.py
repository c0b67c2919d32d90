"""Recording finished trials: their scores and statuses in Ax's store (data before status,
``study.completion``), a line each in the study log and on the console.

Trials that finished together are recorded together: one store write for their scores,
one transaction for their statuses and one append to the log, however many they are. A
pipelined study's evaluator finishes several trials while the next batch is generated;
recorded one by one, each paid the store's fixed cost per write (about 0.04 s here, half a
fast evaluation), recorded together they pay it once (docs/performance.md).

A crash part-way leaves each trial as one of: RUNNING with or without its scores (re-run
on resume), finished in Ax without its log line (the line is added on resume,
``recovery.unlogged_trials``), or recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bomerge.search.pareto import TrialRecord
from bomerge.search.records import format_coefficients, log_entry
from bomerge.search.study.completion import record_outcomes
from bomerge.search.study.store import StudyStore
from bomerge.search.trial import TrialOutcome, scores_of

__all__ = ["Finished", "TrialRecorder"]


@dataclass(frozen=True)
class Finished:
    """A trial whose evaluation ended: its index, its outcome and the seconds the loop
    measured around it (``gen_s``: its share of the generation call that proposed it)."""

    index: int
    outcome: TrialOutcome
    timing: dict[str, float] = field(default_factory=dict)


class TrialRecorder:
    """Records finished trials of one study.

    Args:
        client: the study's Ax client (its experiment and SQLite store).
        store: the study's files.
        metric: the task's metric name, for the console line.
        rows: the selection rows a full evaluation scores (an early-stopped trial's line
            says how many of them it saw).
        progression: the progression a full evaluation's scores are attached at (all
            selection rows in a study that stops trials early, else None).
        record: a trial's record as the study reads it, by index.
    """

    def __init__(self, client: Any, store: StudyStore, metric: str, rows: int,
                 progression: int | None, record: Callable[[int], TrialRecord]) -> None:
        self.client = client
        self.store = store
        self.metric = metric
        self.rows = rows
        self.progression = progression
        self.record = record

    def __call__(self, finished: Sequence[Finished], console: Any) -> list[str | None]:
        """Record ``finished`` (in that order); for each, None or the reason it failed.

        A trial that raised or scored a non-finite loss or metric is marked FAILED with its
        reason; an early-stopped one keeps the running scores attached after its last chunk
        and is marked EARLY_STOPPED; the others are COMPLETED with their scores."""
        started = time.perf_counter()
        for item in finished:
            if item.outcome.reason is not None:
                self.client.mark_trial_failed(item.index, failed_reason=item.outcome.reason[:1000])
        ok = [item for item in finished if item.outcome.reason is None]
        record_outcomes(
            self.client,
            {item.index: scores_of(self._result(item)) for item in ok if not item.outcome.stopped},
            [item.index for item in ok if item.outcome.stopped], self.progression)
        book_s = round((time.perf_counter() - started) / max(1, len(finished)), 4)
        lines, shown = [], []
        for item in finished:
            record = self.record(item.index)
            line = log_entry(record) | _seconds(item)
            if item.outcome.reason is None:
                line["book_s"] = book_s
            else:
                line["reason"] = item.outcome.reason
            lines.append(line)
            # rich's highlighter colours the numbers of a scored line, not a failure's text
            shown.append((self._console_line(record, item.outcome), item.outcome.reason is None))
        self.store.append_log(*lines)
        for text, highlight in shown:
            console.print(text, highlight=highlight)
        return [item.outcome.reason for item in finished]

    @staticmethod
    def _result(item: Finished) -> Any:
        assert item.outcome.result is not None, f"trial {item.index} has neither scores nor reason"
        return item.outcome.result

    def _console_line(self, record: TrialRecord, outcome: TrialOutcome) -> str:
        head = f"trial {record.index:3d} [dim]{record.node:>9}[/] {record.arm:>12}  "
        if outcome.reason is not None:
            return head + f"[red]FAILED[/] {outcome.reason}"
        result = outcome.result
        assert result is not None
        stopped = (f"  [yellow]stopped after {result.n}/{self.rows} rows[/]"
                   if outcome.stopped else "")
        return (head + f"loss {result.loss:.4f}  {self.metric} {result.metric:.4f}  "
                f"{format_coefficients(record.coefficients)}{stopped}")


def _seconds(item: Finished) -> dict[str, float]:
    """A trial's timings on its log line: merge, evaluation, the loop's own, its wall-clock
    span and the rows it was scored on."""
    outcome = item.outcome
    seconds: dict[str, float] = {
        "merge_s": round(outcome.merge_s, 4), "eval_s": round(outcome.eval_s, 4),
        **{k: round(v, 4) for k, v in item.timing.items()},
        "t_start": round(outcome.started_at, 4), "t_end": round(outcome.finished_at, 4)}
    if outcome.result is not None:
        seconds["rows"] = outcome.result.n
    return seconds
