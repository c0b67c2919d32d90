"""Study configuration: a YAML file validated into typed records.

Every record forbids unknown keys, so a typo fails at load time with the key's dotted path
and the file's name instead of being silently ignored. Relative paths in a config are
resolved against the config file's own folder, so a config works from any working directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator

from bomerge.config.merging import MergeConfig, StatisticsConfig
from bomerge.config.record import StrictRecord
from bomerge.config.running import (
    OUTER_PARAMETERS,
    OuterConfig,
    OuterParameter,
    RayConfig,
    StorageConfig,
)
from bomerge.config.sections import (
    CandidatesConfig,
    DataConfig,
    EarlyStoppingConfig,
    EvalConfig,
    SearchConfig,
    TaskConfig,
)
from bomerge.config.training import TinyModelConfig, TrainConfig
from bomerge.errors import BomergeError

__all__ = [
    "OUTER_PARAMETERS", "CandidatesConfig", "DataConfig", "EarlyStoppingConfig", "EvalConfig",
    "MergeConfig", "OuterConfig", "OuterParameter", "RayConfig", "SearchConfig", "StatisticsConfig",
    "StorageConfig", "StudyConfig", "TaskConfig", "TinyModelConfig", "TrainConfig",
    "dump_config", "load_config", "parse_config",
]

STUDY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class StudyConfig(StrictRecord):
    """A whole study; ``baselines`` lists what ``bomerge baseline`` runs (default: all)."""

    name: str = Field(
        description="the study's name: its folder under the studies folder (letters, "
        "digits, _ - .)",
    )
    studies_dir: Path = Field(
        Path("studies"),
        description="where the study's folder goes; counts only when the YAML sets it (else "
        "--studies-dir, $BOMERGE_STUDIES_DIR, ./studies); relative to the "
        "working folder",
    )
    seed: int = Field(
        0,
        description="seeds the Sobol points, the Ax client and every seeded draw of the "
        "study; stored and reused on resume",
    )
    device: str = Field(
        "auto",
        description="auto | cpu | cuda | cuda:N: where candidates are merged and evaluated "
        "(auto: CUDA when there is one)",
    )
    task: TaskConfig = Field(
        description="the data and metric trials are scored on",
    )
    train: TrainConfig | None = Field(
        None,
        description="fine-tune the candidates inside the study (their last train.keep_last "
        "snapshots); null: candidates are given",
    )
    candidates: CandidatesConfig = Field(
        CandidatesConfig(),
        description="the checkpoints to merge, after any the study trains",
    )
    merge: MergeConfig = Field(
        MergeConfig(),
        description="the merge method(s), their options and granularity",
    )
    search: SearchConfig = Field(
        SearchConfig(),
        description="the search: strategy, budget, objectives, pick rule",
    )
    storage: StorageConfig = Field(
        StorageConfig(),
        description="where the Ax experiment is stored",
    )
    executor: Literal["local", "in_turn", "overlapped", "process", "ray"] = Field(
        "local", description="where search trials run: local (this process: in_turn, or "
        "overlapped when search.overlap), in_turn, overlapped, process (overlapped, the "
        "evaluations in a process of their own), or ray (Ray actors)"
    )
    ray: RayConfig = Field(
        RayConfig(),
        description="the Ray cluster, with executor: ray",
    )
    outer: OuterConfig | None = Field(
        None,
        description="Bilevel-BO-SWA: an outer study over train: settings, each outer trial "
        "a fine-tune and a whole inner study",
    )
    baselines: list[str] | None = Field(
        None,
        description="what `bomerge baseline` runs (and search.warm_start starts from); "
        "null: the whole suite",
    )
    train_variants: dict[str, dict[str, Any]] = Field(
        default_factory=dict, validation_alias=AliasChoices("train_variants", "recipes"),
        description="named variants of the train: section (the keys they replace); "
        "candidates.train_variants says which are trained and merged (older configs: recipes)"
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not STUDY_NAME_PATTERN.match(value):
            raise ValueError(
                "must start with a letter or digit and use only letters, digits, '_', '-', '.'"
            )
        return value

    @field_validator("device")
    @classmethod
    def _valid_device(cls, value: str) -> str:
        if value != "auto" and not re.match(r"^(cpu|cuda(:\d+)?|mps)$", value):
            raise ValueError("must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        if self.outer is not None and self.train is None:
            raise ValueError("outer: (bilevel search) needs a train: section to fine-tune with")
        if self.search.pick == "loss_bound" and self.search.pick_loss_bound is None:
            raise ValueError("search.pick 'loss_bound' needs search.pick_loss_bound")
        self._check_train_variants()
        return self

    def _check_train_variants(self) -> None:
        listed, defined = self.candidates.train_variants, self.train_variants
        if not listed and not defined:
            return
        if not listed:
            raise ValueError(f"train_variants: {', '.join(defined)} defined but "
                             "candidates.train_variants lists none to train")
        if self.train is None:
            raise ValueError("candidates.train_variants: train variants are variants of the "
                             "train: section; add one with the settings they share")
        if self.outer is not None:
            raise ValueError("candidates.train_variants cannot be combined with outer: "
                             "(bilevel search trains its own runs)")
        for name in listed:
            if name not in defined:
                raise ValueError(f"candidates.train_variants: unknown train variant '{name}' "
                                 f"(the config's train_variants: {', '.join(defined) or 'none'})")
        if len(set(listed)) != len(listed):
            raise ValueError(f"candidates.train_variants lists a train variant twice: {listed}")
        for name in defined:
            if not STUDY_NAME_PATTERN.match(name):
                raise ValueError(f"train_variants: name '{name}' must start with a letter or "
                                 "digit and use only letters, digits, '_', '-', '.' (it names "
                                 "a folder)")
            self.variant_train(name)

    def variant_train(self, name: str) -> TrainConfig:
        """Train variant ``name``: the ``train:`` section with the variant's keys replaced."""
        assert self.train is not None
        merged = {**self.train.model_dump(exclude_unset=True), **self.train_variants[name]}
        try:
            return TrainConfig.model_validate(merged)
        except ValidationError as error:
            first = error.errors()[0]
            key = ".".join(str(part) for part in first["loc"])
            problem = ("unknown key" if first["type"] == "extra_forbidden"
                       else first["msg"].removeprefix("Value error, "))
            raise ValueError(f"train_variants.{name}.{key}: {problem}") from None

    def training_runs(self) -> list[tuple[str | None, TrainConfig]]:
        """The fine-tuning runs whose snapshots are candidates: each of
        ``candidates.train_variants`` (trained into ``candidates/NAME``), else the ``train:``
        section (into ``candidates``)."""
        if self.candidates.train_variants:
            return [(name, self.variant_train(name)) for name in self.candidates.train_variants]
        return [(None, self.train)] if self.train is not None else []

    @property
    def study_dir(self) -> Path:
        return self.studies_dir / self.name


def _record_names(record: type = StrictRecord) -> set[str]:
    names = {record.__name__}
    for sub in record.__subclasses__():
        names |= _record_names(sub)
    return names


_TYPE_TAGS = {"str", "int", "float", "bool", "none", "bytes", "list", "dict"}


def _is_union_tag(part: Any) -> bool:
    """Whether ``part`` of an error's location is not a key but pydantic's name for one
    member of a union (``str``, ``list[str]``, ``literal['epoch']``, ``TaskConfig``)."""
    return isinstance(part, str) and (
        part in _TYPE_TAGS or any(c in part for c in "[]'(),") or part in _record_names()
    )


def _format_validation_error(error: ValidationError, source: str) -> str:
    """One line: each problem with the dotted key it is about. A value that fits no member
    of a union is one problem (each member's complaint, joined by 'or')."""
    problems: dict[tuple[str, Any], list[str]] = {}  # in order; ("key", path) merges members
    inputs: dict[str, Any] = {}
    for index, item in enumerate(error.errors()):
        loc = [part for part in item["loc"] if not _is_union_tag(part)]
        key = ".".join(str(part) for part in loc) or "<top level>"
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            problems[("line", index)] = [f"unknown key '{key}'"]
        elif item["type"] == "missing":
            problems[("line", index)] = [f"missing key '{key}'"]
        elif not loc or item["type"] == "value_error" and re.match(re.escape(key) + r"[.: ]", msg):
            problems[("line", index)] = [msg]  # a check of the whole config, or it names the key
        else:
            problems.setdefault(("key", key), []).append(msg)
            inputs.setdefault(key, item.get("input"))
    lines = []
    for (kind, key), messages in problems.items():
        if kind == "line":
            lines.extend(messages)
        else:
            said = " or ".join(dict.fromkeys(messages))
            lines.append(f"key '{key}': {said} (got {inputs[key]!r})")
    return f"{source}: " + "; ".join(lines)


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make the config's relative paths relative to the config file's folder."""

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value and not os.path.isabs(value):
            return str(base / value)
        return value

    def resolve_task(task: Any) -> None:
        if isinstance(task, dict) and isinstance(task.get("data"), dict):
            for key in ("root", "train", "dev"):
                if key in task["data"]:
                    task["data"][key] = resolve(task["data"][key])
        if isinstance(task, dict) and isinstance(task.get("tasks"), list):
            for member in task["tasks"]:  # a cross-task study's own sub-task sections
                resolve_task(member)

    resolve_task(raw.get("task"))
    cands = raw.get("candidates")
    if isinstance(cands, dict):
        if isinstance(cands.get("paths"), list):
            cands["paths"] = [resolve(p) for p in cands["paths"]]
        if isinstance(cands.get("glob"), list):
            cands["glob"] = [resolve(p) for p in cands["glob"]]
        if isinstance(cands.get("base"), str) and cands["base"] != "minilm":
            cands["base"] = resolve(cands["base"])
    def resolve_train(train: Any) -> None:
        if not isinstance(train, dict):
            return
        if isinstance(train.get("model"), str) and train["model"] not in ("minilm", "tiny"):
            train["model"] = resolve(train["model"])
        intermediate = train.get("intermediate")
        if isinstance(intermediate, dict):  # its data: and a task section's own data:
            resolve_task(intermediate)
            resolve_task(intermediate.get("task"))

    resolve_train(raw.get("train"))
    for key in ("train_variants", "recipes"):  # "recipes": the older name of the key
        if isinstance(raw.get(key), dict):
            for variant in raw[key].values():
                resolve_train(variant)
    return raw


def parse_config(raw: Any, source: str, base_dir: Path) -> StudyConfig:
    """Validate an already-parsed YAML document's structure; ``source`` names it in
    errors. Names (task, merge method and options, baselines, strategy) are strings here,
    resolved by the layers that own them (``bomerge.search.config_names``)."""
    if not isinstance(raw, dict):
        raise BomergeError(f"{source}: expected a mapping of keys at the top level")
    try:
        return StudyConfig.model_validate(_resolve_paths(dict(raw), base_dir))
    except ValidationError as error:
        raise BomergeError(_format_validation_error(error, source)) from None


class _DuplicateKey(yaml.YAMLError):
    """A mapping of the document holds one key twice (``key`` is its dotted path)."""

    def __init__(self, key: str, first_line: int, second_line: int) -> None:
        lines = (f"line {first_line}" if first_line == second_line
                 else f"lines {first_line} and {second_line}")
        super().__init__(f"key '{key}' appears twice ({lines}); keep one")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that holds a key twice at any depth (plain
    PyYAML keeps the last value and drops the other silently). The check runs on the
    composed nodes, before merge keys (``<<: *anchor``) are expanded: a key that a mapping
    sets over one it merges in is an override, not a duplicate."""

    def construct_document(self, node: yaml.Node) -> Any:
        self._refuse_duplicate_keys(node, (), set())
        return super().construct_document(node)

    def _refuse_duplicate_keys(self, node: yaml.Node, where: tuple[str, ...],
                               visited: set[int]) -> None:
        if id(node) in visited:  # an alias of a node already checked (or a recursive one)
            return
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._refuse_duplicate_keys(item, (*where, str(index)), visited)
            return
        if not isinstance(node, yaml.MappingNode):
            return
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # <<: its keys land in this mapping
                merged = (value_node.value if isinstance(value_node, yaml.SequenceNode)
                          else [value_node])
                for source in merged:
                    self._refuse_duplicate_keys(source, where, visited)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a sequence or mapping as a key: the constructor refuses it
            key = self.construct_object(key_node)
            path = (*where, str(key_node.value))
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(".".join(path), seen[key], line)
                seen[key] = line
            except TypeError:  # unhashable: the constructor refuses it
                continue
            self._refuse_duplicate_keys(value_node, path, visited)


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study config file's structure (names are checked by
    ``bomerge.search.config_names.load_study_config``).

    Raises:
        BomergeError: the file is missing or unreadable, is not UTF-8 text or not valid
            YAML (with line and column), a mapping holds a key twice (with its dotted path
            and both lines), or a key is unknown, missing or of the wrong type (with its
            dotted path).
    """
    path = Path(path)
    if not path.is_file():
        raise BomergeError(f"config file not found: {path}")
    try:
        data = path.read_bytes()
        text = data.decode("utf-8")
    except OSError as error:
        raise BomergeError(f"{path}: cannot read the file: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise BomergeError(f"{path}: not UTF-8 text (line {line}: {error.reason} "
                           f"{data[error.start:error.start + 1]!r})") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except _DuplicateKey as error:
        raise BomergeError(f"{path}: {error}") from None
    except yaml.reader.ReaderError as error:  # a control character: its line and column
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        raise BomergeError(f"{path}: invalid YAML at line {line}, column {column}: character "
                           f"#x{error.character:04x}: {error.reason}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise BomergeError(f"{path}: invalid YAML{where}: {problem}") from None
    return parse_config(raw, str(path), path.resolve().parent)


def dump_config(config: StudyConfig) -> str:
    """The config as YAML with absolute paths, for the study's snapshot."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
