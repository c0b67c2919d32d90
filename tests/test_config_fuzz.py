"""bomerge.config under bad input: whatever is wrong with a config file, ``load_config``
returns a config or raises ``BomergeError`` with one line that starts with the file's name
and names the key at fault; no other exception escapes. The examples are mutations of the
shipped ``configs/smoke-tiny.yaml``: a key dropped, renamed, retyped, set out of range, or
written twice."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bomerge.config import StudyConfig, load_config
from bomerge.config.record import StrictRecord
from bomerge.errors import BomergeError

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs" / "smoke-tiny.yaml"
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def base_config() -> dict[str, Any]:
    """smoke-tiny.yaml with its data root made absolute, so the mutated copy may be written
    anywhere."""
    raw = yaml.safe_load(SMOKE.read_text())
    raw["task"]["data"]["root"] = str((SMOKE.parent / raw["task"]["data"]["root"]).resolve())
    return raw


BASE = base_config()


def key_paths(node: Any, where: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key of the nested mappings, as paths from the top."""
    if not isinstance(node, dict):
        return []
    paths = []
    for key, value in node.items():
        paths.append((*where, key))
        paths.extend(key_paths(value, (*where, key)))
    return paths


PATHS = key_paths(BASE)
REQUIRED = {("name",), ("task",), ("task", "name")}


def field_names(record: type = StrictRecord) -> set[str]:
    """The keys of every section."""
    names = set(record.model_fields)
    for sub in record.__subclasses__():
        names |= field_names(sub)
    return names


KNOWN_KEYS = field_names()
UNKNOWN_KEYS = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(
    lambda name: name not in KNOWN_KEYS)


def parent(raw: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path[:-1]:
        raw = raw.setdefault(key, {})
    return raw


def load_text(text: str) -> tuple[Path, StudyConfig | BomergeError]:
    """Write ``text`` to a fresh config file and load it: the config, or the refusal. Any
    other exception fails the property."""
    return load_file(text.encode())


def load_file(content: bytes) -> tuple[Path, StudyConfig | BomergeError]:
    with tempfile.TemporaryDirectory(prefix="bomerge-fuzz-") as folder:
        path = Path(folder) / "study.yaml"
        path.write_bytes(content)
        try:
            return path, load_config(path)
        except BomergeError as error:
            message = str(error)
            assert "\n" not in message and message.strip(), f"not one line: {message!r}"
            assert message.startswith(f"{path}: "), f"does not name the file: {message!r}"
            return path, error


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


# Values by type: a key is retyped to a value of another type than its own.
TYPED_VALUES = {
    int: st.integers(-10**12, 10**12), float: st.floats(allow_nan=False), bool: st.booleans(),
    type(None): st.none(), str: st.text(max_size=12), list: st.lists(st.integers(), max_size=3),
    dict: st.dictionaries(st.sampled_from(["a", "trials", "x y"]), st.integers(),
                          min_size=1, max_size=2),
}

# Numbers the section records refuse, by key.
OUT_OF_RANGE = {
    ("search", "trials"): st.integers(max_value=-1),
    ("search", "initial_trials"): st.integers(max_value=0),
    ("search", "num_restarts"): st.integers(max_value=0),
    ("search", "raw_samples"): st.integers(max_value=0),
    ("search", "batch_size"): st.integers(max_value=0),
    ("train", "epochs"): st.integers(max_value=0),
    ("train", "batch_size"): st.integers(max_value=0),
    ("train", "keep_last"): st.integers(max_value=0),
    ("train", "max_train_examples"): st.integers(max_value=0),
    ("train", "learning_rate"): st.floats(max_value=0.0),
    ("train", "warmup_ratio"): st.floats(max_value=-1e-9) | st.floats(min_value=1.0),
    ("train", "dropout"): st.floats(max_value=-1e-9) | st.floats(min_value=1.0),
    ("train", "tiny", "vocab_size"): st.integers(max_value=49),
    ("task", "max_length"): st.integers(max_value=1) | st.integers(min_value=4097),
    ("task", "eval", "selection_fraction"): st.floats(max_value=0.0) | st.floats(min_value=1.0),
    ("task", "eval", "max_selection_examples"): st.integers(max_value=0),
    ("task", "eval", "batch_size"): st.integers(max_value=0),
}


@st.composite
def mutations(draw: st.DrawFn, kinds: tuple[str, ...] = ("drop", "rename", "retype", "range"),
              ) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """One mutation of the base config: its kind, the dotted key it is about, the result."""
    raw = copy.deepcopy(BASE)
    kind = draw(st.sampled_from(kinds))
    if kind == "range":
        path = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
        parent(raw, path)[path[-1]] = draw(OUT_OF_RANGE[path])
        return kind, path, raw
    path = draw(st.sampled_from(PATHS))
    section, key = parent(raw, path), path[-1]
    if kind == "drop":
        del section[key]
    elif kind == "rename":
        new = draw(UNKNOWN_KEYS)
        section[new] = section.pop(key)
        path = (*path[:-1], new)
    else:
        section[key] = draw(st.one_of([values for kind_, values in TYPED_VALUES.items()
                                       if kind_ is not type(section[key])]))
    return kind, path, raw


@FUZZ
@given(mutations())
def test_a_mutated_config_loads_or_is_refused_in_one_line_naming_the_file_and_key(mutation):
    kind, path, raw = mutation
    _, result = load_text(yaml.safe_dump(raw, sort_keys=False))
    if (kind == "drop" and path not in REQUIRED
            or kind == "retype" and isinstance(result, StudyConfig)):
        return  # an optional key dropped, or a value pydantic converts (2 -> 2.0, 1 -> True)
    assert isinstance(result, BomergeError), f"{kind} {dotted(path)} was accepted"
    message = str(result)
    assert re.search(rf"(?<![\w.]){re.escape(dotted(path))}(?![\w\[])", message), \
        f"does not name {dotted(path)}: {message}"
    assert not re.search(r"key '[^']*\.(str|int|float|bool|list\[|dict\[|literal\[)", message), \
        f"a union member's name given as a key: {message}"


@FUZZ
@given(mutations(kinds=("drop", "rename", "range")), st.data())
def test_a_key_written_twice_is_refused_naming_the_key_and_both_lines(mutation, data):
    """On top of another mutation, a ``key: value`` line written again just below itself
    (no retyping here: a string's continuation lines are no keys)."""
    _, _, raw = mutation
    lines = yaml.safe_dump(raw, sort_keys=False).splitlines()
    keyed = [i for i, line in enumerate(lines) if re.match(r"^ *[a-z_]+:", line)]
    index = data.draw(st.sampled_from(keyed))
    lines.insert(index + 1, lines[index])
    indent = len(lines[index]) - len(lines[index].lstrip())
    path = [lines[index].split(":")[0].strip()]
    for line in reversed(lines[:index]):  # the sections above it, by their indentation
        depth = len(line) - len(line.lstrip())
        if depth < indent and re.match(r"^ *[a-z_]+:", line):
            path.insert(0, line.split(":")[0].strip())
            indent = depth
    _, result = load_text("\n".join(lines) + "\n")
    assert isinstance(result, BomergeError)
    assert str(result).endswith(f": key '{'.'.join(path)}' appears twice "
                                f"(lines {index + 1} and {index + 2}); keep one")


@FUZZ
@given(st.one_of(st.text(max_size=80), st.text(":-[]{}&*!|>'\"%@`#,? \n\tab1<", max_size=80),
                 st.binary(max_size=40)))
def test_any_file_at_all_loads_or_is_refused_in_one_line_naming_the_file(content):
    """Not YAML, not text, a document that is not a mapping: still one line, never a
    traceback."""
    load_file(content if isinstance(content, bytes) else content.encode())


def test_the_cli_refuses_a_bad_config_in_one_line_and_creates_no_study(tmp_path: Path):
    raw = copy.deepcopy(BASE)
    raw["search"]["trials"] = -3
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    done = subprocess.run(
        [sys.executable, "-m", "bomerge", "study", "run", str(config),
         "--studies-dir", str(tmp_path / "studies")],
        check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "BOMERGE_DEBUG"},
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "key 'search.trials'" in lines[0] and str(config) in lines[0]
    assert not (tmp_path / "studies" / raw["name"]).exists()
