"""bomerge.search.preflight: the executor a run uses is a name the config's field takes and
can run here (asked of the executor, not branched on by name), and a method a task cannot
serve is refused naming the methods that can at their default options."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.merge import build_method
from bomerge.search.executors import executor_names
from bomerge.search.executors.ray import OnRay
from bomerge.search.preflight import unsupported_message, with_executor
from tests.conftest import tiny_study_dict


def test_executor_names_are_the_config_fields_choices():
    assert executor_names() == ("local", "in_turn", "overlapped", "process", "ray")


def test_with_executor_applies_a_known_name_and_asks_the_executor_whether_it_can_run(
        glue_root, tmp_path, monkeypatch):
    config = parse_config(tiny_study_dict(glue_root, tmp_path), "test", tmp_path)
    with pytest.raises(BomergeError, match=r"^--executor: unknown executor 'dask' "
                                           r"\(known: local, in_turn, overlapped, process, ray\)$"):
        with_executor(config, "dask")
    assert with_executor(config, None) is config

    def missing() -> None:
        raise BomergeError("executor 'ray' needs Ray")

    monkeypatch.setattr(OnRay, "check_available", classmethod(lambda cls: missing()))
    assert with_executor(config, "local").executor == "local"
    with pytest.raises(BomergeError, match="needs Ray"):
        with_executor(config, "ray")


def test_an_unsupported_method_is_told_which_methods_serve_the_task_at_default_options():
    task = SimpleNamespace(name="nostats", statistics=frozenset())
    message = unsupported_message(task, build_method("regmean"))  # type: ignore[arg-type]
    assert message.startswith("merge method 'regmean' (options ")
    assert "does not support task 'nostats': its heads define no " in message
    assert message.endswith(" (with their default options)")
    usable = message.split("; use one of ")[1].removesuffix(" (with their default options)")
    assert "weights" in usable.split(", ") and "regmean" not in usable.split(", ")
