"""``python -m bomerge``: the same entry point as the ``bomerge`` command."""

from __future__ import annotations

from bomerge.cli import main

main()
