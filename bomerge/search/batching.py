"""How many trials a generation call proposes (q, ``search.batch_size``): a fixed number,
or, with ``batch_size: auto``, the smallest q whose evaluation takes as long as its
generation, from what this run measured.

A pipelined executor (``search.overlap``) generates the next batch while the current one
is evaluated, so the evaluator never waits when q · E ≥ G(q), E being one trial's merge and
evaluation seconds and G(q) one generation call's. The rule: q = ⌈G / E⌉ with G the latest
generation call's seconds (at the q it asked for) and E the mean of the last
``WINDOW`` trials, between 1 and ``MAX_AUTO``; q = 1 until both are measured. G grows with
q, so the rule settles where a batch's evaluation covers its own generation, or at the cap.
The cap keeps batches small enough that the search still learns between them (BoTorch's
and Ax's asynchronous-BO tutorials use batches of a few to ten).
"""

from __future__ import annotations

import math
from collections import deque

MAX_AUTO = 8
WINDOW = 5


class BatchSize:
    """q for the next generation call: ``setting`` (an int, or ``"auto"``)."""

    def __init__(self, setting: int | str) -> None:
        self.setting = setting
        self._generation_s: float | None = None
        self._evaluation_s: deque[float] = deque(maxlen=WINDOW)

    def __call__(self) -> int:
        if isinstance(self.setting, int):
            return self.setting
        if self._generation_s is None or not self._evaluation_s:
            return 1
        mean = sum(self._evaluation_s) / len(self._evaluation_s)
        return auto_batch_size(self._generation_s, mean)

    def generated(self, seconds: float) -> None:
        """A generation call took ``seconds``."""
        self._generation_s = seconds

    def evaluated(self, seconds: float) -> None:
        """A trial's merge and evaluation took ``seconds``."""
        self._evaluation_s.append(seconds)


def auto_batch_size(generation_s: float, evaluation_s: float) -> int:
    """⌈generation / evaluation⌉ between 1 and ``MAX_AUTO``."""
    if evaluation_s <= 0:
        return MAX_AUTO
    return max(1, min(MAX_AUTO, math.ceil(generation_s / evaluation_s)))
