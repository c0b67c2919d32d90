"""The one exception type users see as a one-line message instead of a traceback."""

from __future__ import annotations


class BomergeError(Exception):
    """A problem with the user's input or environment, stated in one line.

    The message must name the file, key or value at fault. The CLI prints it without a
    traceback (set ``BOMERGE_DEBUG=1`` to see one) and exits with a non-zero code.
    """
