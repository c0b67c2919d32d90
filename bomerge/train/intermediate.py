"""Intermediate-task training (``train.intermediate``): the encoder is first fine-tuned on
another task, and the main run starts from that encoder with fresh heads.

STILTs (Phang et al. 2018). Which tasks are refused, where the intermediate run is kept,
which settings it takes and how it enters the main run's identity: docs/methods.md,
"Intermediate-task training".
"""

from __future__ import annotations

from pathlib import Path

from transformers import AutoModelForSequenceClassification

from bomerge.config import DataConfig, TaskConfig, TrainConfig
from bomerge.config.training import IntermediateConfig
from bomerge.errors import BomergeError
from bomerge.tasks import get_task
from bomerge.tasks.classifier import SequenceClassificationTask
from bomerge.tasks.registry import canonical_name

KEY = "train.intermediate"
SUFFIX = ".intermediate"


def intermediate_folder(out_dir: Path) -> Path:
    """Where the intermediate run of the main run in ``out_dir`` is kept: beside it."""
    return out_dir.parent / f"{out_dir.name}{SUFFIX}"


def data_identity(data: DataConfig) -> dict[str, object]:
    """The part of a ``data:`` section that says which rows are trained (a csv task's files,
    columns and label order), not where a benchmark's files are (``root``, ``hub``)."""
    return data.model_dump(mode="json", exclude={"root", "hub"}, exclude_none=True)


def intermediate_task_config(task_cfg: TaskConfig, section: IntermediateConfig) -> TaskConfig:
    """The intermediate task's section: a named task reads ``section.data`` (default: the
    main task's root and hub, not its csv keys) with the main task's ``max_length``; a task
    section is taken as it is."""
    if isinstance(section.task, TaskConfig):
        return section.task
    data = section.data or DataConfig(root=task_cfg.data.root, hub=task_cfg.data.hub)
    return TaskConfig(name=section.task, max_length=task_cfg.max_length, data=data)


def intermediate_train(train: TrainConfig) -> TrainConfig:
    """The ``train:`` settings of the intermediate run (see the module docstring)."""
    section = train.intermediate
    assert section is not None
    return TrainConfig(
        model=train.model, tiny=train.tiny, max_train_examples=section.max_train_examples,
        epochs=section.epochs, batch_size=train.batch_size,
        learning_rate=section.learning_rate or train.learning_rate,
        weight_decay=train.weight_decay, warmup_ratio=train.warmup_ratio,
        schedule=train.schedule, dropout=train.dropout, save_every="epoch", keep_last=1,
        seed=train.seed if train.init_seed is None else train.init_seed,
    )


def check_intermediate(task_cfg: TaskConfig,
                       train: TrainConfig) -> tuple[TaskConfig, TrainConfig] | None:
    """The intermediate run's task section and settings, or None without one.

    Raises:
        BomergeError: one line naming ``train.intermediate``: an unknown task, a task that
            is not one one-head task, the main task (or one of its heads) again, ``data``
            beside a task section, or ``data`` keys the task does not read.
    """
    section = train.intermediate
    if section is None:
        return None
    if isinstance(section.task, TaskConfig) and section.data is not None:
        raise BomergeError(f"{KEY}.data: the task section '{section.task.name}' carries its "
                           f"own data (set {KEY}.task.data instead)")
    inter_cfg = intermediate_task_config(task_cfg, section)
    one_task = "intermediate training takes one one-head task (a GLUE task, or a csv section)"
    if inter_cfg.tasks is not None:
        raise BomergeError(f"{KEY}.task: '{inter_cfg.name}' lists sub-tasks; {one_task}")
    _refuse_main_task(inter_cfg, task_cfg)  # before the name is looked up: a head's name
    try:                                    # need not be a registered task
        task = get_task(inter_cfg)
    except BomergeError as error:
        raise BomergeError(f"{KEY}.task: {error}" + ("" if "unknown task" in str(error)
                                                     else f" ({one_task})")) from None
    if not isinstance(task, SequenceClassificationTask) or len(task.heads) != 1:
        raise BomergeError(f"{KEY}.task: task '{task.name}' has heads "
                           f"{', '.join(task.heads) or 'of several tasks'}; {one_task}")
    if unread := task.unread_data_keys(inter_cfg.data):
        where = f"{KEY}.task.data" if isinstance(section.task, TaskConfig) else f"{KEY}.data"
        raise BomergeError(f"{where}.{unread[0]} is not read by task '{task.name}' (it reads "
                           f"{', '.join(task.data_keys)})")
    return inter_cfg, intermediate_train(train)


def _refuse_main_task(inter_cfg: TaskConfig, task_cfg: TaskConfig) -> None:
    """Refuse an intermediate task that is the main task or one of its heads: the same
    benchmark under any alias, or for a task over the user's files, the same files."""
    name, main = inter_cfg.name, get_task(task_cfg)
    same_rows = data_identity(inter_cfg.data) == data_identity(task_cfg.data)
    if canonical_name(name) == canonical_name(main.name) and same_rows:
        raise BomergeError(f"{KEY}.task: '{name}' is the main task '{main.name}' itself; "
                           "intermediate training needs another task")
    heads = main.heads if len(main.heads) > 1 else ()
    clash = [head for head in heads if canonical_name(head) == canonical_name(name)]
    if clash:
        raise BomergeError(f"{KEY}.task: '{name}' is '{clash[0]}', a head of the main task "
                           f"'{main.name}' ({', '.join(heads)}); intermediate training needs "
                           "another task")


def save_encoder(checkpoint: Path, folder: Path) -> None:
    """Write the encoder of a ``*ForSequenceClassification`` checkpoint as a bare encoder
    folder (its ``base_model``, pooler included; no classifier).

    A task's ``new_model`` given the checkpoint itself would not start fresh heads: a
    classifier with the same label count loads the intermediate task's head, another count
    fails on its shape. From a bare encoder every task initialises its heads, as it does
    from the packaged pretrained encoder."""
    model = AutoModelForSequenceClassification.from_pretrained(str(checkpoint))
    model.base_model.save_pretrained(str(folder))
