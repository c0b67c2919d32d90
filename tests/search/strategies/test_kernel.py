"""bomerge.search.strategies.kernel: a stale torch-extension build lock left by a killed process
cannot hang the next study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

LOAD = """
from pathlib import Path
from torch.utils.cpp_extension import _get_build_directory
from bomerge.search.strategies.kernel import load_acquisition_kernel
print(Path(_get_build_directory("logei_fused_ext", verbose=False)) / "lock")
load_acquisition_kernel()
"""


@pytest.mark.slow  # over 15 s: `pytest -m slow` (docs/testing.md)
def test_a_build_lock_left_by_sigkill_does_not_hang_the_next_process():
    first = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr
    lock = Path(first.stdout.strip().splitlines()[0])
    lock.touch()  # what SIGKILL during BoTorch's kernel build/check leaves behind
    again = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert not lock.exists()
