"""What a study keeps resident: candidates, base, evaluators and prepared merge methods.

``Workbench`` holds the pool and the evaluators for the study's lifetime and prepares each
merge method once (its statistics cached under the study). The rows it reads
(``evaluation_rows``, ``statistics_rows``) are also what ``bomerge.search.preflight``
checks before any training, loading or statistics.
"""

from __future__ import annotations

import glob
import json
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from bomerge.config import StudyConfig
from bomerge.errors import BomergeError
from bomerge.evaluate import Evaluator, RowResult
from bomerge.integrity import changed_candidates, changed_message, weight_file_sha256
from bomerge.merge.base import MergeMethod, PrepareContext, build_method
from bomerge.merge.cache import StatisticsCache
from bomerge.merge.statistics import StatisticsSource, rows_fingerprint
from bomerge.models import check_same_tokenizer, load_tokenizer, packaged_minilm_path
from bomerge.pool import CandidatePool
from bomerge.progression import RowPlan, planned_batches
from bomerge.search.space import study_method
from bomerge.search.study.store import StudyStore
from bomerge.tasks import Task, get_task
from bomerge.tasks.base import EvalResult, Example, Scored
from bomerge.train.finetune import finetune
from bomerge.train.snapshots import BASE_FOLDER

#: The correlation of weight matrices with the base below which a cross-task candidate is
#: not a fine-tune of it (MiniLM fine-tunes: 0.9997; tiny models trained from a random
#: start at high rates: 0.5; two unrelated initialisations: 0.01-0.02).
FINE_TUNED_CORRELATION = 0.2


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BomergeError(f"device '{name}' requested but CUDA is not available")
    return device


def base_folder(config: StudyConfig, store: StudyStore | None) -> Path | None:
    """θ_0: ``candidates.base``, else the start point of the study's own training run."""
    base = config.candidates.base
    if base == "minilm":
        return packaged_minilm_path()
    if base is not None:
        return Path(base)
    runs = config.training_runs()
    if runs and store is not None:  # several train variants: the first one's start point
        return run_folder(store.candidates_dir, runs[0][0]) / BASE_FOLDER
    return None


def run_folder(candidates_dir: Path, variant: str | None) -> Path:
    """Where a training run of the study keeps its snapshots: ``candidates/`` for the
    ``train:`` section, ``candidates/NAME`` for train variant NAME."""
    return candidates_dir if variant is None else candidates_dir / variant


def statistics_rows(config: StudyConfig, task: Task) -> list[Example]:
    """A seeded sample of ``merge.statistics.examples`` rows of the statistics split (that
    many per task in a cross-task study)."""
    settings = config.merge.statistics
    if settings.split == config.task.eval.split:
        raise BomergeError(
            f"merge.statistics.split '{settings.split}' is the split trials are scored on; "
            "statistics must come from other rows (e.g. 'train')"
        )
    try:
        rows = task.load_split(config.task.data, settings.split)
    except BomergeError as error:
        raise BomergeError(f"no data for statistics (merge.statistics.split): {error}") from None
    if not rows:
        raise BomergeError(
            f"no data for statistics: split '{settings.split}' of task '{task.name}' is empty"
        )
    if config.candidates.tasks is not None:
        # Cross-task candidates each use their own task's rows: a sample per task, so a
        # small task is not crowded out by a large one.
        return [row for members in task.rows_by_head(rows).values()
                for row in _sample(members, settings.examples, settings.seed)]
    return _sample(rows, settings.examples, settings.seed)


def _sample(rows: list[Example], examples: int, seed: int) -> list[Example]:
    if len(rows) <= examples:
        return rows
    picked = sorted(random.Random(seed).sample(range(len(rows)), examples))
    return [rows[i] for i in picked]


def evaluation_rows(config: StudyConfig, task: Task) -> tuple[list[Example], list[Example]]:
    """The selection rows (trials are scored on them) and the report rows (held out) of the
    evaluation split; refuses a split that leaves either part empty."""
    ev = config.task.eval
    dev = task.load_split(config.task.data, ev.split)
    selection, report = task.split_selection_report(dev, ev.selection_fraction)
    parts = [(task.name, dev, selection, report)]
    if len(task.heads) > 1:  # every head needs rows in both parts
        by_head = [task.rows_by_head(rows) for rows in (dev, selection, report)]
        parts = [(f"{task.name}/{h}", by_head[0][h], by_head[1][h], by_head[2][h])
                 for h in task.heads]
    for name, rows, chosen, held in parts:
        if not chosen or not held:
            raise BomergeError(
                f"task.eval: the {ev.split} split of '{name}' has {len(rows)} rows, which "
                f"leaves {len(chosen)} selection and {len(held)} report rows "
                f"(selection_fraction {ev.selection_fraction}); both parts need rows"
            )
    return (task.cap_rows(selection, ev.max_selection_examples),
            task.cap_rows(report, ev.max_report_examples))


def candidate_paths(config: StudyConfig, store: StudyStore, show_progress: bool) -> list[Path]:
    """The K candidate folders: those trained for the study, then listed paths and globs."""
    paths: list[Path] = []
    for variant, train in config.training_runs():
        paths += finetune(
            config.task, train, run_folder(store.candidates_dir, variant),
            resolve_device(config.device), show_progress, store.training_log_path,
        )
    paths += list(config.candidates.paths)
    for pattern in config.candidates.glob:
        matches = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_dir())
        if not matches:
            raise BomergeError(f"candidates.glob '{pattern}' matches no folder")
        paths += matches
    if not paths:
        raise BomergeError("the config names no candidates (candidates.paths/glob or train)")
    return paths


class Workbench:
    """Candidates, base, tokenizer, evaluators and prepared methods of one study."""

    def __init__(self, store: StudyStore, config: StudyConfig, show_progress: bool = True,
                 allow_changed_candidates: bool = False) -> None:
        self.store = store
        self.config = config
        self.show_progress = show_progress
        self.allow_changed_candidates = allow_changed_candidates
        self.console = Console(stderr=True, quiet=not show_progress)
        self.task: Task = get_task(config.task)
        self.device = resolve_device(config.device)
        #: Each candidate's task (cross-task merging, ``candidates.tasks``), or None.
        self.owners: tuple[str, ...] | None = (tuple(config.candidates.tasks)
                                               if config.candidates.tasks is not None else None)
        self._states: dict[str, Any] = {}
        self._individual: dict[Evaluator, Scored] = {}
        self._report: Evaluator | None = None
        self._statistics: StatisticsSource | None = None
        self.prepare_seconds: dict[str, float] = {}

    def open(self) -> None:
        config, store = self.config, self.store
        meta = store.read_meta()
        paths = candidate_paths(config, store, self.show_progress)
        names = [str(p.resolve()) for p in paths]
        if meta.candidates and meta.candidates != names:
            raise BomergeError(
                f"study '{store.name}' was run with other candidates than the config now gives "
                f"({len(meta.candidates)} recorded, {len(names)} now)"
            )
        folder = base_folder(config, store)
        self.base_folder: Path | None = folder if folder is not None and folder.is_dir() else None
        models = paths + ([self.base_folder] if self.base_folder is not None else [])
        hashes = self._unchanged_hashes(meta.candidate_sha256, models)
        if not meta.candidates or hashes != meta.candidate_sha256:
            meta.candidates, meta.candidate_sha256 = names, hashes
            store.write_meta(meta)
        self.task.check_candidates(paths, self.owners)
        check_same_tokenizer(models)
        self.load(paths, self.base_folder)
        if self.owners is not None and self.base_folder is not None:
            self._check_fine_tuned_from(self.base_folder)
        if self.task.normalised:
            self.report  # noqa: B018 - both parts' references before any trial, not after them

    def load(self, paths: list[Path], base: Path | None) -> None:
        """Load checked candidates (and the base) and build the selection evaluator; what a
        trial worker does with the folders the study already resolved and checked."""
        config = self.config
        self.paths, self.base_folder = paths, base
        self.pool = CandidatePool.load(paths, self.device, self.task.unmerged(paths, self.owners),
                                       dtype=getattr(torch, config.merge.pool_dtype))
        self.buffer = self.pool.empty_merge_buffer()
        self.base: torch.Tensor | None = None
        self.base_known: torch.Tensor | None = None
        if base is not None:
            self.base, self.base_known = self.pool.load_base(base)

        self.selection_rows, self.report_rows = evaluation_rows(config, self.task)
        self.tokenizer = load_tokenizer(paths[0])
        self.skeleton = self.task.candidates_skeleton(paths, self.owners).to(self.device)
        self.selection = self._evaluator(self.selection_rows, "selection")

    def _check_fine_tuned_from(self, base: Path) -> None:
        """Refuse cross-task candidates that were not fine-tuned from ``base``: their task
        vectors would be differences between unrelated models."""
        assert self.base is not None and self.base_known is not None
        correlations = self.pool.correlations_with(self.base, self.base_known)
        for path, correlation in zip(self.paths, correlations, strict=True):
            if correlation < FINE_TUNED_CORRELATION:
                raise BomergeError(
                    f"candidate {path} was not fine-tuned from candidates.base {base}: its "
                    f"weights correlate {correlation:.2f} with the base's (below "
                    f"{FINE_TUNED_CORRELATION:g}; a fine-tune's stay far above it, and candidates "
                    "from different bases cannot be merged by task vectors)")

    def _unchanged_hashes(self, recorded: dict[str, str], folders: list[Path]) -> dict[str, str]:
        """The SHA-256 of each folder's weights; refuses folders whose weights differ from
        the ``recorded`` ones unless changes are allowed."""
        changed = changed_candidates(recorded, folders)
        if changed and not self.allow_changed_candidates:
            raise BomergeError(changed_message(self.store.name, changed))
        for change in changed:
            self.console.print(f"[yellow]{change.folder}: weights changed since the study "
                               "recorded them; accepted (--allow-changed-candidates)[/]")
        return {str(f.resolve()): weight_file_sha256(f) for f in folders}

    def selection_plan(self) -> RowPlan | None:
        """The study's order of its selection rows in chunks: recorded, or drawn (seeded by
        the study) and recorded the first time; None for a study older than the order."""
        chunks = self.store.read_meta().selection_chunks
        if chunks is None:
            return None
        path = self.store.selection_order_path
        if path.is_file():
            return RowPlan.read(path, len(self.selection_rows))
        # Never more chunks than rows (the preflight refuses that when trials are stopped
        # early; otherwise the chunks only batch the rows).
        plan = RowPlan.stratified(self.selection_rows, min(chunks, len(self.selection_rows)),
                                  self.config.seed)
        if not self.store.read_only:
            plan.write(path)
        return plan

    def _evaluator(self, rows: list[Example], part: str) -> Evaluator:
        eval_cfg = self.config.task.eval
        plan = self.selection_plan() if part == "selection" else None
        batches, ends = planned_batches(self.task, rows, plan, self.tokenizer,
                                        self.config.task.max_length, eval_cfg.batch_size,
                                        self.device)
        evaluator = Evaluator(self.skeleton, batches, self.task, eval_cfg.precision, ends)
        if self.task.normalised:
            evaluator.task = self.task.with_references(self.references(part, evaluator))
        return evaluator

    @property
    def report(self) -> Evaluator:
        """The report-row evaluator (built on first use; never used to choose anything)."""
        if self._report is None:
            self._report = self._evaluator(self.report_rows, "report")
        return self._report

    def individual(self, evaluator: Evaluator) -> EvalResult:
        """Each task's rows scored by its own candidate, unmerged (cross-task studies)."""
        if self.owners is None:
            raise BomergeError("individual models are the candidates of a cross-task study "
                               "(task multi)")
        # One pass per evaluator: the references and the `individual` baseline both need it;
        # its rows are summarised by the evaluator's task as it is now (normalised, once the
        # references are set).
        if evaluator not in self._individual:
            rows = self.task.candidate_rows
            # row(i) widens a half pool's candidates: K float32 copies for this one pass.
            self._individual[evaluator] = evaluator.evaluate_each({
                rows(self.owners, i): self.pool.unflatten(self.pool.row(i))
                for i in range(self.pool.k)}).rows
        scored = self._individual[evaluator]
        summary = evaluator.task.summarize(scored)
        return RowResult(summary.loss, summary.metric, summary.extra, summary.n, rows=scored)

    def references(self, part: str, evaluator: Evaluator) -> dict[str, float]:
        """Each task's individual-model metric on the ``part`` rows (what normalised scores
        divide by), computed once and kept in the study's ``references.json``."""
        candidates = self.store.read_meta().candidate_sha256
        recorded = self.store.read_references()
        if recorded.get("candidates") != candidates:  # other weights: other references
            recorded = {"candidates": candidates}
        if part not in recorded:
            result = self.individual(evaluator)
            recorded[part] = {head: result.extra[head] for head in self.task.heads}
            if self.store.directory.is_dir():
                self.store.write_references(recorded)
        return recorded[part]

    def statistics(self) -> StatisticsSource:
        if self._statistics is None:
            settings = self.config.merge.statistics
            rows = statistics_rows(self.config, self.task)
            batches = self.task.batches(rows, self.tokenizer, self.config.task.max_length,
                                        settings.batch_size, self.device)
            skeleton = self.task.candidates_skeleton(self.paths, self.owners,
                                                     attention="eager").to(self.device)
            fingerprint = rows_fingerprint(batches,
                                           settings.model_dump() | {"task": self.task.name})
            heads = (tuple(self.task.candidate_rows(self.owners, i) for i in range(self.pool.k))
                     if self.owners is not None else None)
            self._statistics = StatisticsSource(skeleton, batches, self.task, fingerprint, heads)
        return self._statistics

    def method(self, name: str, options: Mapping[str, Any] | None = None) -> MergeMethod:
        """A method with the study's options when it is the study's method, else defaults."""
        if options is None and name in self.config.merge.methods:
            options = self.config.merge.options_for(name)
        return build_method(name, options)

    def study_method(self) -> MergeMethod:
        """The study's method at the study's granularity (``space.study_method``)."""
        return study_method(self.config, self.paths[0])

    def prepared(self, method: MergeMethod) -> Any:
        """The method's prepared state, computed once per study process."""
        key = method.name + json.dumps(method.options.model_dump(), sort_keys=True)
        key += "/".join(getattr(method, "groups", ()))  # a block-wise form has its own state
        if key not in self._states:
            started = time.perf_counter()
            context = PrepareContext(
                pool=self.pool, base=self.base, base_known=self.base_known,
                statistics=self.statistics() if method.uses_data() else None,
                model=self.skeleton,
                cache=StatisticsCache(self.store.statistics_dir, self.console,
                                      read_only=self.store.read_only),
                show_progress=self.show_progress, prepare=self.prepared,
            )
            if method.needs_base and self.base is None:
                context.require_base(method.name)
            with self.console.status(f"preparing {method.name}"):
                self._states[key] = method.prepare(context)
            self.prepare_seconds[method.name] = time.perf_counter() - started
        return self._states[key]

    def merge(self, method: MergeMethod,
              values: Mapping[str, np.ndarray | float]) -> dict[str, torch.Tensor]:
        """Merged parameters (named views into the one preallocated buffer)."""
        state = self.prepared(method)
        method.combine(state, values, self.buffer)
        return self.pool.unflatten(self.buffer)

    def evaluate(self, method: MergeMethod, values: Mapping[str, np.ndarray | float],
                 evaluator: Evaluator | None = None) -> EvalResult:
        return (evaluator or self.selection).evaluate(self.merge(method, values))
