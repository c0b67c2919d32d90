"""A generation call's torch threads: set for the call and restored after it, and never
reaching an evaluation thread that fixed its own."""

from __future__ import annotations

import threading

import pytest
import torch

from bomerge.search.torch_threads import generation_threads, keep_evaluation_threads


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_the_count_holds_in_the_block_and_is_restored_after_it_even_on_error(two_threads):
    with generation_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), generation_threads(1):
        raise RuntimeError("a generation call failed")
    assert torch.get_num_threads() == 2


def _threads_seen_while_generating(fixes_its_own: bool) -> int:
    """The torch threads an evaluation thread sees while the main thread generates on 1;
    ``fixes_its_own``: it calls ``keep_evaluation_threads`` when it starts."""
    started, generating, done = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def evaluation() -> None:
        if fixes_its_own:
            keep_evaluation_threads()
        started.set()
        generating.wait(10)
        seen.append(torch.get_num_threads())
        done.set()

    worker = threading.Thread(target=evaluation)
    worker.start()
    started.wait(10)
    with generation_threads(1):
        generating.set()
        done.wait(10)
    worker.join()
    (threads,) = seen
    return threads


def test_an_evaluation_thread_keeps_its_count_while_the_main_thread_generates(two_threads):
    assert _threads_seen_while_generating(fixes_its_own=True) == 2


def test_without_fixing_its_count_a_thread_follows_the_generation_setting(two_threads):
    """Why the evaluation thread fixes its count: torch's default is process-wide."""
    assert _threads_seen_while_generating(fixes_its_own=False) == 1
