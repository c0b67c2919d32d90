"""bomerge.tasks.glue: the task registry."""

from __future__ import annotations

import pytest

from bomerge.errors import BomergeError
from bomerge.tasks import get_task


def test_glue_tasks_and_aliases():
    assert get_task("SST-2").name == "sst2"
    assert get_task("sts-b").is_regression
    assert get_task("mrpc").is_pair and get_task("mrpc").extra_metrics == ("f1",)
    assert get_task("cola").metric == "matthews"


def test_unknown_task_lists_known_ones():
    with pytest.raises(BomergeError, match="unknown task 'qnli'.*sst2"):
        get_task("qnli")
