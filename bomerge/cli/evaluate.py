"""``bomerge eval``: score any model folder on any split and print loss and metric."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from bomerge.cli.app import StudiesDir, app, out
from bomerge.errors import BomergeError
from bomerge.search.study.check import open_study


@app.command("eval")
def evaluate_model(
    model_dir: Annotated[
        Path, typer.Argument(metavar="MODEL_DIR", help="Hugging Face model folder.")
    ],
    task: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--task", help="a task name, e.g. sst2 (default: the study's; a csv "
                                    "task's columns come from its --study)."),
    ] = None,
    data: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--data", help="GLUE root, task folder, or one data file of the task "
                                    "(default: the study's)."),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="train | dev (folder data).")] = "dev",
    part: Annotated[
        str, typer.Option("--part", help="all | selection | report part of the split.")
    ] = "all",
    study: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--study", help="Take task, data, max length, batch size and row caps "
                                     "from this study's config."),
    ] = None,
    max_length: Annotated[Optional[int], typer.Option("--max-length")] = None,  # noqa: UP045
    batch_size: Annotated[Optional[int], typer.Option("--batch-size")] = None,  # noqa: UP045
    max_examples: Annotated[Optional[int], typer.Option("--max-examples")] = None,  # noqa: UP045
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda[:N]")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    studies_dir: StudiesDir = None,
) -> None:
    """Evaluate any model folder (an exported merge included) on any split and print loss
    and metric: score the pick on rows the search never saw."""
    from bomerge.progression import RowPlan
    from bomerge.scoring import RowsSpec, load_rows, score_model
    from bomerge.search.workbench import resolve_device
    from bomerge.tasks import get_task
    from bomerge.tasks.registry import canonical_name

    if part not in ("all", "selection", "report"):
        raise BomergeError(f"--part '{part}': use all, selection or report")
    if not model_dir.is_dir():
        raise BomergeError(f"{model_dir}: model folder not found")
    fraction, cap, length, batch, hub = 0.5, None, 128, 64, False
    task_config = data_config = None
    order: Path | None = None
    head: str | None = None  # a cross-task study's task: its rows of the study's chunks
    if study is not None:
        # The study's settings are the defaults; explicit options still win.
        store = open_study(study, studies_dir)
        config = store.read_config()
        # selection rows are scored in the study's chunks, as its trials were
        chunked = part == "selection" and store.read_meta().selection_chunks is not None
        ev = config.task.eval
        sections = {canonical_name(s if isinstance(s, str) else s.name): s
                    for s in config.task.tasks or []}
        if sections:  # a cross-task study: one of its tasks, as that task's section says
            if task is None or canonical_name(task) not in sections:
                raise BomergeError(f"study '{study}' merges the tasks {', '.join(sections)}: give "
                                   "--task with one of them (and an exported OUT/<task> folder)")
            section = sections[canonical_name(task)]
            if chunked:
                order, head = store.selection_order_path, canonical_name(task)
            if isinstance(section, str):
                section = config.task.model_copy(update={"name": section, "tasks": None})
            task, task_config, data_config = section.name, section, section.data
            config = config.model_copy(update={"task": section.model_copy(update={"eval": ev})})
        elif task is None or canonical_name(task) == canonical_name(config.task.name):
            # The study's own task section: a csv study's columns and files come with it.
            task, task_config, data_config = config.task.name, config.task, config.task.data
            if chunked:
                order = store.selection_order_path
        else:
            data = data or config.task.data.root
        fraction, length, batch, hub = (ev.selection_fraction, config.task.max_length,
                                        ev.batch_size, config.task.data.hub)
        cap = {"selection": ev.max_selection_examples, "report": ev.max_report_examples}.get(part)
    if task is None:
        raise BomergeError("give --task (or --study NAME)")
    spec = get_task(task_config or task)
    rows = load_rows(spec, RowsSpec(data, split, part, fraction, max_examples or cap, hub),
                     data_config)
    plan = None
    if order is not None and order.is_file():
        plan = RowPlan.read(order).of_head(head) if head else RowPlan.read(order, len(rows))
    result = score_model(model_dir, spec, rows, max_length or length, batch_size or batch,
                         resolve_device(device), plan)
    payload = {"model": str(model_dir), "task": task, "split": split, "part": part,
               "rows": result.n, "loss": result.loss, spec.metric: result.metric, **result.extra}
    if as_json:
        out.print_json(json.dumps(payload))
        return
    extra = "".join(f"  {k} {v:.4f}" for k, v in result.extra.items())
    out.print(f"{model_dir}: {task} {split} ({part}, {result.n} rows)  loss {result.loss:.4f}  "
              f"{spec.metric} {result.metric:.4f}{extra}", soft_wrap=True)
