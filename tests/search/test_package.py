"""bomerge.search: each room's entry points are importable from the package, and importing
the package alone imports none of them (nor Ax, nor torch)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bomerge.search as search


@pytest.mark.parametrize("name", search.__all__)
def test_every_entry_point_resolves_to_its_rooms_definition(name: str):
    found = getattr(search, name)
    assert found.__module__.startswith("bomerge.search."), (name, found.__module__)
    assert found.__name__ == name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'StudyRunnr'"):
        search.StudyRunnr  # noqa: B018


def test_importing_the_package_imports_no_room():
    code = ("import sys, bomerge.search; "
            "print(sorted(m for m in sys.modules if m.startswith(('bomerge.search.', 'ax', "
            "'torch'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
