"""Merge methods; importing this package registers every built-in method."""

from __future__ import annotations

from bomerge.merge import weights  # noqa: F401  (registers "weights")
from bomerge.merge.base import METHODS, MergeMethod, get_method, register

__all__ = ["METHODS", "MergeMethod", "get_method", "register"]
