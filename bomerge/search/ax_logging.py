"""Importing Ax quietly.

Ax logs every trial at INFO on its own stream handler, and some modules log while they
import; bomerge shows its own progress instead. Modules that import Ax at their top call
``quiet_ax()`` first.
"""

from __future__ import annotations

import logging
import warnings


def quiet_ax() -> None:
    """Ax logs every trial at INFO and warns about routine numerics; bomerge shows its own
    progress instead."""
    logging.disable(logging.INFO)  # Ax logs at INFO while its modules import
    try:
        import ax.api.client  # noqa: F401  (attaches Ax's stream handler)
    finally:
        logging.disable(logging.NOTSET)
    for handler in logging.getLogger("ax").handlers:
        handler.setLevel(logging.ERROR)
    for name in ("botorch", "gpytorch", "pyro"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(ax|botorch|gpytorch|linear_operator)\..*")
    warnings.filterwarnings("ignore", message=".*(cache_ok|To copy construct).*")
