"""The torch threads of a study's generation calls, apart from its evaluation's.

torch's intra-op thread count is OpenMP's, kept per thread: a thread that sets its own
keeps it whatever another sets later, and a thread that never set one follows the process
default. A study's GP (fit and acquisition optimisation) works on tensors of a few hundred
rows at most, where a second thread costs more in synchronisation than it gains (measured
in docs/performance.md, ``bench_generation.py --generation-threads``), while the evaluation of a
transformer wants every core. So each generation call runs with ``search.generation_threads``
(``generation_threads``), and an evaluation thread running beside it fixes its own count
when it starts (``keep_evaluation_threads``), so the generation's setting never reaches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["generation_threads", "keep_evaluation_threads"]


@contextmanager
def generation_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads in the calling thread, then restore the
    count it had (the in-turn executor evaluates in the same thread next)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def keep_evaluation_threads() -> None:
    """In an evaluation thread, at its start: fix its torch threads at the process's
    current count, so a generation call in the main thread does not change them."""
    import torch

    torch.set_num_threads(torch.get_num_threads())
