"""What a message about a damaged study file tells the user to do, and reading a study's
JSON files with such a message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bomerge.errors import BomergeError

RESTORE = ("restore it from a copy of the study; `bomerge study check NAME` lists what "
           "else disagrees")


def recompute(study: str, what: str) -> str:
    """What to do with a damaged file bomerge can write again."""
    return f"delete it and `bomerge study resume {study}` computes {what} again"


def read_json(path: Path, remedy: str) -> Any:
    """A JSON file of a study; one line naming the file and ``remedy`` when it is missing,
    empty, cut or not JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BomergeError(f"{path}: missing; {remedy}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        state = "empty" if path.stat().st_size == 0 else f"not valid JSON ({error})"
        raise BomergeError(f"{path}: {state}; {remedy}") from None


def predictions_remedy(study: str) -> str:
    """What to do with a damaged or missing predictions file: the result that names it is
    written again with it."""
    return (f"delete it and result.json; `bomerge study resume {study}` scores the pick and "
            "its comparisons again (`bomerge baseline --rerun` for another baseline's)")
