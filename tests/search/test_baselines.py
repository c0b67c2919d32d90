"""bomerge.search.baselines: greedy soup's acceptance rule and the baseline suite's names."""

from __future__ import annotations

import pytest

from bomerge.errors import BomergeError
from bomerge.search.baselines import (
    BASELINES,
    METHOD_BASELINES,
    check_baseline_names,
    default_baselines,
    expand,
    greedy_soup,
)


def test_greedy_soup_keeps_exactly_the_candidates_that_strictly_improve_the_soup():
    # Own metrics sort the candidates 2, 0, 3, 1. Soups (by members): {2,0} improves,
    # {2,0,3} ties (not strictly better, rejected), {2,0,1} improves.
    singles = [0.80, 0.60, 0.85, 0.70]
    soups = {(0, 2): 0.86, (0, 2, 3): 0.86, (0, 1, 2): 0.90}
    asked = []

    def soup_metric(indices):
        asked.append(sorted(indices))
        return soups[tuple(sorted(indices))]

    result = greedy_soup(singles, soup_metric)
    assert result.kept == [2, 0, 1]
    assert result.metric == 0.90
    assert asked == [[0, 2], [0, 2, 3], [0, 1, 2]]
    assert [accepted for _, _, accepted in result.tried] == [True, False, True]


def test_greedy_soup_of_one_dominant_candidate_is_that_candidate():
    result = greedy_soup([0.5, 0.9, 0.4], lambda indices: 0.1)
    assert result.kept == [1] and result.metric == 0.9


def test_baseline_names_are_checked_and_candidates_expand_to_one_label_each():
    check_baseline_names(list(BASELINES))
    with pytest.raises(BomergeError, match="unknown baseline 'soup'"):
        check_baseline_names(["soup"])
    assert expand(["candidates", "ties"], 2) == ["candidate_0", "candidate_1", "ties"]


def test_method_baselines_are_every_registered_method_but_weights_in_a_fixed_order():
    from bomerge.merge import METHODS

    assert METHOD_BASELINES == ("fisher", "regmean", "mats", "task_arithmetic", "ties",
                                "dare_task_arithmetic", "dare_ties", "localize_stitch", "tsv",
                                "wudi")
    assert set(METHOD_BASELINES) == set(METHODS) - {"weights"}
    assert BASELINES == ("candidates", "individual", "uniform", "greedy_soup", *METHOD_BASELINES,
                         "task_arithmetic_grid")
    # a one-task study that names no baselines runs what it ran before the cross-task ones
    assert default_baselines(False) == ("candidates", "uniform", "greedy_soup", *METHOD_BASELINES)
    assert default_baselines(True) == BASELINES
