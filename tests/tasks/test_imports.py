"""Importing the tasks and the model helpers does not import transformers.

Read-only commands (``bomerge study pareto``, reports) import ``bomerge.tasks`` to read a
study but build no model, so they must not pay the seconds transformers takes to import:
it is imported only where a model, tokenizer or config is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_tasks_and_models_does_not_import_transformers():
    run = subprocess.run(
        [sys.executable, "-c",
         "import bomerge.tasks, bomerge.models, sys; print('transformers' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    assert run.stdout.strip() == "False"
