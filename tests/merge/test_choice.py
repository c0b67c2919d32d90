"""bomerge.merge.choice: a choice among merge methods — its variables, the point of each
member, and a combine that prepares the chosen member only, once."""

from __future__ import annotations

import pytest
import torch

from bomerge.config import parse_config
from bomerge.errors import BomergeError
from bomerge.merge import build_method
from bomerge.merge.base import Choice, PrepareContext
from bomerge.merge.choice import MethodChoice, configured_method
from tests.merge.conftest import toy_pool

BASE = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
TAUS = torch.tensor([[0.5, 0.1, -0.2, 0.0], [0.0, -0.3, 0.4, 1.0]], dtype=torch.float64)


def choice() -> MethodChoice:
    return MethodChoice([build_method("task_arithmetic"), build_method("ties", {"density": 0.5})])


def test_variables_are_the_choice_and_each_members_own_under_its_name():
    variables = choice().variables(2)
    assert isinstance(variables[0], Choice)
    assert variables[0].options == ("task_arithmetic", "ties")
    assert variables[0].dependents == {"task_arithmetic": ("task_arithmetic:lambda",),
                                       "ties": ("ties:density", "ties:lambda")}
    assert [v.name for v in variables[1:]] == ["task_arithmetic:lambda", "ties:density",
                                               "ties:lambda"]


def test_a_recipe_of_a_member_is_a_point_of_the_choice_and_describes_as_that_member():
    method = choice()
    point = method.point_of(build_method("ties", {"density": 0.5}),
                            {"density": 0.5, "lambda": 1.0}, 2)
    assert point == {"method": "ties", "ties:density": 0.5, "ties:lambda": 1.0}
    assert method.describe(point) == ("ties", {"density": 0.5, "lambda": 1.0})
    assert method.member(point).name == "ties"
    # a member with other options, or a method not listed, has no point in the space
    assert method.point_of(build_method("ties"), {"density": 0.2, "lambda": 1.0}, 2) is None
    assert method.point_of(build_method("weights"), {"w": [0.5, 0.5]}, 2) is None


def test_combine_merges_with_the_chosen_member_and_prepares_it_once_when_first_chosen():
    pool = toy_pool({"w": BASE + TAUS})
    prepared = []

    def prepare(member):
        prepared.append(member.name)
        return member.prepare(context)

    context = PrepareContext(pool=pool, base=BASE.clone(),
                             base_known=torch.ones(4, dtype=torch.bool), prepare=prepare)
    method = choice()
    state = method.prepare(context)
    assert prepared == []
    out = method.combine(state, {"method": "task_arithmetic", "task_arithmetic:lambda": 0.4},
                         pool.empty_merge_buffer())
    torch.testing.assert_close(out, BASE + 0.4 * TAUS.sum(0))
    method.combine(state, {"method": "task_arithmetic", "task_arithmetic:lambda": 0.1},
                   pool.empty_merge_buffer())
    assert prepared == ["task_arithmetic"]
    ties = build_method("ties", {"density": 0.5})
    expected = ties.combine(ties.prepare(context), {"density": 0.5, "lambda": 1.0},
                            pool.empty_merge_buffer())
    out = method.combine(state, {"method": "ties", "ties:density": 0.5, "ties:lambda": 1.0},
                         pool.empty_merge_buffer())
    torch.testing.assert_close(out, expected)
    assert prepared == ["task_arithmetic", "ties"]


def test_the_choice_needs_a_base_and_statistics_when_a_member_does():
    method = MethodChoice([build_method("weights"), build_method("regmean")])
    assert not method.needs_base and method.needed_statistics() == {"kfac"}
    assert choice().needs_base
    with pytest.raises(BomergeError, match="twice"):
        MethodChoice([build_method("ties"), build_method("ties")])
    with pytest.raises(BomergeError, match="not one of"):
        choice().member({"method": "mats"})


def test_a_config_lists_methods_with_a_section_of_options_each(tmp_path):
    raw = {"name": "c", "task": {"name": "sst2"}, "candidates": {"paths": []},
           "merge": {"method": ["ties", "wudi"], "options": {"wudi": {"steps": 10}}}}
    config = parse_config(raw, "c.yaml", tmp_path)
    method = configured_method(config.merge)
    assert isinstance(method, MethodChoice)
    assert method.members["wudi"].options.steps == 10
    assert method.members["ties"].options.density == 0.2
    single = parse_config(
        raw | {"merge": {"method": ["ties"], "options": {"ties": {"density": 0.4}}}},
        "c.yaml", tmp_path)
    assert configured_method(single.merge).options.density == 0.4
