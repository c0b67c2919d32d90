"""Write a study's chosen merge (or any trial or baseline) as a normal Hugging Face folder.

A cross-task merge (task ``multi``) is written as one such folder per task (``OUT/sst2/``,
...: the merged encoder with that task's own head) beside one provenance file.

The folder holds ``config.json``, ``model.safetensors``, the tokenizer of candidate 0 and
``bomerge_merge.json``: the study, trial, method, coefficients, the rule that chose it, and
every candidate (and base) folder with the SHA-256 of its weight file, so a merge can be
traced back to exactly the checkpoints it came from.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bomerge.errors import BomergeError
from bomerge.integrity import weight_file_sha256
from bomerge.models import load_tokenizer
from bomerge.report.view import StudyView
from bomerge.search.study.store import StudyStore

PROVENANCE_FILE = "bomerge_merge.json"


@dataclass(frozen=True)
class ExportChoice:
    """What to export: a trial of the study (``trial``), or a recorded baseline of another
    method by label (``baseline``)."""

    trial: int | None = None
    baseline: str | None = None


def check_out_dir(out_dir: Path, force: bool) -> None:
    """Refuse to write over anything but an empty folder, or (with ``force``) a folder an
    earlier export wrote (it holds ``bomerge_merge.json``): like git, bomerge replaces only
    what it owns, so a user's own files are never deleted."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BomergeError(f"{out_dir}: exists and is not a folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not (out_dir / PROVENANCE_FILE).is_file():
        raise BomergeError(f"{out_dir}: folder is not empty and holds no {PROVENANCE_FILE}, so "
                           "bomerge did not write it; export into a new or empty folder")
    if not force:
        raise BomergeError(f"{out_dir}: holds an earlier export (use --force to replace it)")


def with_umask(folder: Path) -> None:
    """Give ``folder`` and everything in it the permissions the user's umask asks for
    (``mkdtemp`` makes its folder 0700, and some writers make files 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for path in folder.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def resolve_choice(view: StudyView, choice: ExportChoice, store: StudyStore) -> dict[str, Any]:
    """The record to export, checked before anything is loaded."""
    if choice.baseline is not None:
        recorded = store.read_baselines()
        if choice.baseline not in recorded:
            raise BomergeError(
                f"study '{view.name}' has no recorded baseline '{choice.baseline}' "
                f"(recorded: {', '.join(recorded) or 'none'})"
            )
        b = recorded[choice.baseline]
        if b["trial"] is not None:
            return {"trial": b["trial"]}
        return {"baseline": b}
    if choice.trial is None and view.pick.index is None:  # the pick is a recorded baseline
        return {"baseline": store.read_baselines()[view.pick.arm]}
    index = view.pick.index if choice.trial is None else choice.trial
    record = view.record(index)  # type: ignore[arg-type]
    if not record.completed:
        raise BomergeError(f"study '{view.name}': trial {index} has no result ({record.status})")
    return {"trial": index}


def export_merge(
    store: StudyStore, choice: ExportChoice, out_dir: Path, force: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Merge, write ``out_dir`` atomically (a sibling temp folder renamed into place) and
    return the provenance written with it."""
    from bomerge.search.rebuild import baseline_merge, trial_merge
    from bomerge.search.workbench import Workbench

    check_out_dir(out_dir, force)
    store = StudyStore(store.directory, read_only=True)
    view = StudyView.load(store)
    target = resolve_choice(view, choice, store)
    bench = Workbench(store, view.config, show_progress)
    bench.open()
    if "trial" in target:
        index = target["trial"]
        record = view.record(index)
        method, merged = trial_merge(bench, index)
        options, coefficients = method.options, record.coefficients
        scores = {"loss": record.loss, "metric": record.metric, **record.extra}
        what = {"trial": index, "arm": record.arm, "node": record.node}
    else:
        b = target["baseline"]
        method, merged = baseline_merge(bench, b)
        options, coefficients, scores = method.options, b["coefficients"], b["selection"]
        what = {"trial": None, "arm": b["label"], "node": "baseline"}

    is_pick = what["trial"] == view.pick.index and (
        what["trial"] is not None or what["arm"] == view.pick.arm)
    models = bench.task.exported_models(merged, bench.paths, bench.owners, bench.pool.dtypes)
    provenance = {
        "study": store.name,
        "study_dir": str(store.directory.resolve()),
        **what,
        "method": method.name,
        "options": method.options.model_dump() if options is not None else {},
        "coefficients": coefficients,
        "selection": scores,
        "chosen_by": view.selection_rule() if is_pick else "asked for",
        "task": view.config.task.name,
        **({"tasks": {name: f"{name}/" for name in models}} if "" not in models else {}),
        "candidates": [{"path": str(p.resolve()), "sha256": weight_file_sha256(p)}
                       for p in bench.paths],
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    base = bench.base_folder
    if method.needs_base and base is not None:
        provenance["base"] = {"path": str(base.resolve()), "sha256": weight_file_sha256(base)}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for sub, (model, tokenizer_folder) in models.items():
            folder = staging / sub
            model.save_pretrained(folder, safe_serialization=True)
            load_tokenizer(tokenizer_folder).save_pretrained(folder)
        (staging / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2))
        with_umask(staging)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return provenance
