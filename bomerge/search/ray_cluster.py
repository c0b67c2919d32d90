"""Reaching Ray: importing it with a message that says how to install it, and refusing a
cluster address where no Ray head answers.

A leaf module (nothing else of bomerge's search layer): the Ray executor reaches Ray only
through it, both when it starts and when the preflight asks it whether it can run
(``OnRay.check_available``).
"""

from __future__ import annotations

import socket
from typing import Any

from bomerge.errors import BomergeError


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BomergeError(
            "executor 'ray' needs Ray: pip install 'bomerge[ray]' (or run with --executor local)"
        ) from None
    return ray


def check_reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """Refuse a cluster address (``host:port`` or ``ray://host:port``) that accepts no TCP
    connection: Ray itself retries an unreachable head for minutes before giving up."""
    if not address or address in ("auto", "local") or ":" not in address:
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as error:
        raise BomergeError(f"ray.address {address}: cannot start or reach Ray "
                           f"(no Ray head answers there: {error})") from None
