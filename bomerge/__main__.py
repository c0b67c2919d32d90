from __future__ import annotations

from bomerge.cli import main

main()
