"""Merge methods; importing this package registers every built-in method."""

from __future__ import annotations

from bomerge.merge import (  # noqa: F401  (each module registers its method)
    dare,
    fisher,
    localize_stitch,
    mats,
    regmean,
    task_arithmetic,
    ties,
    tsv,
    weights,
    wudi,
)
from bomerge.merge.base import METHODS, MergeMethod, build_method, get_method, register

__all__ = ["METHODS", "MergeMethod", "build_method", "get_method", "register"]
