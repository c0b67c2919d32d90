"""A half-precision pool (``merge.pool_dtype`` bfloat16 / float16) changes only how the K
candidates are stored: every merge method still prepares and combines them in float32.

Two specifications, on the tiny candidates:

* Storage only (every registered method, at model granularity and, where it has per-group
  coefficients, per layer): a method run on a half pool gives what it gives on a float32
  pool holding the same candidates rounded to the half type, prepare (statistics at the
  rounded weights) and combine alike. Any arithmetic done in the half type would differ
  from that by about its unit roundoff, 2^-8 (bfloat16) or 2^-11 (float16) of the values;
  float32 arithmetic differs only by its own (2^-24), and the test allows 8·2^-24·max|θ|.
* Rounding bound (the combines that are fixed linear combinations Σ_i c_i θ_ij of the
  candidates' values: ``weights``, ``task_arithmetic``, ``fisher`` for given Fishers, at
  model and layer granularity): rounding to nearest moves a value by
  |θ̃ − θ| ≤ u·|θ| + d, with u the unit roundoff (2^-8 bfloat16, 2^-11 float16) and d half
  the subnormal spacing (2^-25 for float16's values below 2^-14; ~1e-40 for bfloat16). Entry j
  of the merge therefore moves by at most Σ_i |c_i| · (u·max_i |θ_ij| + d)
  against the float32 pool's merge. The test asserts eps·Σ_i |c_i|·max_i |θ_ij| + Σ_i |c_i|·d
  with eps = 2u (``torch.finfo(dtype).eps``: 2^-7 bfloat16, 2^-10 float16); the spare u
  covers the float32 rounding of the accumulation (about K·2^-24 relative).

TIES and Localize-and-Stitch (an entry at a trim or mask threshold can flip), RegMean
(its solve amplifies a perturbation by the Grams' conditioning) and MaTS (conjugate
gradients stopped after finitely many steps) have no such bound: by the first
specification their distance from the unrounded merge is the method's own sensitivity to
a relative perturbation of u in every weight, not the pool's arithmetic.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from bomerge.merge import METHODS, build_method
from bomerge.merge.base import MergeMethod, PrepareContext, Scalar, Simplex, Variable
from bomerge.merge.blockwise import Blockwise, BlockwiseState
from bomerge.merge.groups import encoder_layer_count, group_names, parameter_groups
from bomerge.merge.statistics import StatisticsSource
from bomerge.models import classifier_skeleton, load_tokenizer
from bomerge.pool import CandidatePool
from bomerge.tasks import get_task

HALF = [torch.bfloat16, torch.float16]
# Every registered method at its defaults, plus the option sets that change its arithmetic
# (MaTS with fewer CG steps than its 100 only to keep the test quick).
CASES = [
    ("weights", {}),
    ("fisher", {}),
    ("task_arithmetic", {}),
    ("task_arithmetic", {"per_candidate": True}),
    ("ties", {}),
    ("localize_stitch", {}),
    ("localize_stitch", {"mask": "learned", "steps": 2}),
    ("regmean", {}),
    ("mats", {"iterations": 10}),
    ("dare_task_arithmetic", {}),
    ("dare_ties", {}),
    ("wudi", {"steps": 5}),
    ("tsv", {}),
]
# Each case at model granularity and, where the method has per-group coefficients, per layer.
GRANULAR = [(case, granularity) for case in CASES for granularity in ("model", "layer")
            if granularity == "model" or build_method(*case).grouped_variables(3)]
LINEAR = [("weights", {}), ("fisher", {}), ("task_arithmetic", {}),
          ("task_arithmetic", {"per_candidate": True})]
FLOAT32_ULP = 2.0**-24


def case_id(case: tuple[str, dict]) -> str:
    name, options = case
    return name + "".join(f"-{k}={v}" for k, v in options.items())


def test_the_cases_cover_every_registered_method():
    assert {name for name, _ in CASES} == set(METHODS)


class Setting:
    """The float32 pool, each half type's pool and its rounded float32 twin, one statistics
    source, and the prepared states (computed once per pool and method)."""

    def __init__(self, candidates: list[Path], data: object, base_folder: Path) -> None:
        task = get_task("sst2")
        rows = task.load_split(data, "train")[:8]
        batches = task.batches(rows, load_tokenizer(candidates[0]), 24, 8, "cpu")
        self.source = StatisticsSource(classifier_skeleton(candidates[0], "eager"), batches,
                                       task, "rows")
        self.base_folder = base_folder
        self.layers = encoder_layer_count(candidates[0])
        self.pools = {"float32": CandidatePool.load(candidates)}
        for dtype in HALF:
            half = CandidatePool.load(candidates, dtype=dtype)
            self.pools[f"{dtype}"] = half
            self.pools[f"{dtype} rounded"] = CandidatePool(
                half.paths, half.stacked.float(), half.slots, half.fixed, half.dtypes)
        self._states: dict[tuple[str, str], object] = {}

    def context(self, label: str) -> PrepareContext:
        pool = self.pools[label]
        base, known = pool.load_base(self.base_folder)
        return PrepareContext(pool=pool, base=base, base_known=known, statistics=self.source,
                              model=self.source.skeleton)

    def prepared(self, label: str, method: MergeMethod) -> object:
        """``method``'s state on pool ``label``; a block-wise method's wraps its inner
        method's state with the groups, as ``Blockwise.prepare`` does."""
        inner = method.inner if isinstance(method, Blockwise) else method
        key = (label, inner.name + repr(inner.options.model_dump()))
        if key not in self._states:
            self._states[key] = inner.prepare(self.context(label))
        return self.wrapped(label, method, self._states[key])

    def wrapped(self, label: str, method: MergeMethod, state: object) -> object:
        if not isinstance(method, Blockwise):
            return state
        pool = self.pools[label]
        groups = parameter_groups(self.source.skeleton, pool, method.groups)
        return BlockwiseState(state, groups, pool.k)


def headless_base(base: Path, folder: Path) -> Path:
    """The run's base without its classifier, like a pretrained encoder: the task-vector
    methods then also take their plain-average path (entries the base does not supply)."""
    shutil.copytree(base, folder)
    weights = folder / "model.safetensors"
    state = load_file(str(weights))
    save_file({n: t for n, t in state.items() if not n.startswith("classifier.")}, str(weights))
    return folder


@pytest.fixture(scope="module")
def setting(tiny_candidates, tiny_task, tmp_path_factory) -> Setting:
    base = headless_base(tiny_candidates[0].parent / "base",
                         tmp_path_factory.mktemp("pool-dtype") / "base")
    return Setting(tiny_candidates, tiny_task.data, base)


def at_granularity(method: MergeMethod, granularity: str, layers: int) -> MergeMethod:
    return method if granularity == "model" else Blockwise(method, group_names(granularity, None,
                                                                                layers))


def random_point(variables: list[Variable], k: int, seed: int = 0) -> dict[str, np.ndarray | float]:
    """A point of the method's space away from the defaults (each group its own values)."""
    rng = np.random.default_rng(seed)
    point: dict[str, np.ndarray | float] = {}
    for var in variables:
        if isinstance(var, Simplex):
            point[var.name] = rng.dirichlet(np.ones(k))
        else:
            assert isinstance(var, Scalar)
            low, high = (np.log(var.low), np.log(var.high)) if var.log else (var.low, var.high)
            value = rng.uniform(low, high)
            point[var.name] = float(np.exp(value) if var.log else value)
    return point


def combined(setting: Setting, label: str, method: MergeMethod, point: dict) -> torch.Tensor:
    pool = setting.pools[label]
    out = method.combine(setting.prepared(label, method), point, pool.empty_merge_buffer())
    assert out.dtype == torch.float32
    return out


@pytest.mark.parametrize("case, granularity", GRANULAR,
                         ids=[f"{case_id(c)}-{g}" for c, g in GRANULAR])
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_a_half_pool_merges_exactly_as_float32_over_the_rounded_candidates(setting, dtype, case,
                                                                           granularity):
    name, options = case
    method = at_granularity(build_method(name, options), granularity, setting.layers)
    point = random_point(method.variables(3), 3)
    half = combined(setting, f"{dtype}", method, point)
    rounded = combined(setting, f"{dtype} rounded", method, point)
    assert torch.isfinite(half).all()
    scale = float(setting.pools["float32"].stacked.abs().max())
    torch.testing.assert_close(half, rounded, rtol=0.0, atol=8 * FLOAT32_ULP * scale)


def linear_coefficient_sum(method: MergeMethod, point: dict, k: int) -> float:
    """A bound on Σ_i |c_i| of a combine Σ_i c_i θ_ij, over entries and groups: 1 for the
    simplex averages (the Fisher weights λ_i F_ij / Σ_i λ_i F_ij included); for task
    arithmetic Σ_i |λ_i| + |1 − Σ_i λ_i|, since its base term (1 − Σ λ_i) θ_0 is exact where
    the base supplies θ_0 but is the candidates' mean (rounded like them) where it does not."""
    if method.name != "task_arithmetic":
        return 1.0
    inner = method.inner if isinstance(method, Blockwise) else method
    groups = method.split(point, k) if isinstance(method, Blockwise) else [point]
    scales = [inner.scales(values, k) for values in groups]
    return max(float(np.abs(lam).sum() + abs(1 - lam.sum())) for lam in scales)


@pytest.mark.parametrize("granularity", ["model", "layer"])
@pytest.mark.parametrize("case", LINEAR, ids=case_id)
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_a_linear_combine_on_a_half_pool_moves_only_by_the_rounding_bound(setting, dtype, case,
                                                                          granularity):
    name, options = case
    method = at_granularity(build_method(name, options), granularity, setting.layers)
    point = random_point(method.variables(3), 3, seed=1)
    outs = {}
    for label in ("float32", f"{dtype}"):
        pool = setting.pools[label]
        if name == "fisher":
            # The same Fishers for both pools (spanning 1e-12 … 1): the combine's
            # coefficients are then identical and only the candidates' rounding differs.
            fisher = 10.0 ** (-12 * torch.rand(pool.k, pool.num_values,
                                               generator=torch.Generator().manual_seed(2)))
            inner = method.inner if isinstance(method, Blockwise) else method
            state = setting.wrapped(label, method, inner.state_from_fisher(pool, fisher))
        else:
            state = setting.prepared(label, method)
        outs[label] = method.combine(state, point, pool.empty_merge_buffer())
    theta = setting.pools["float32"].stacked
    finfo = torch.finfo(dtype)
    coefficients = linear_coefficient_sum(method, point, 3)
    half_subnormal_step = finfo.tiny * finfo.eps / 2
    bound = coefficients * (finfo.eps * theta.abs().amax(0) + half_subnormal_step)
    moved = (outs[f"{dtype}"] - outs["float32"]).abs()
    worst = int(torch.argmax(moved / bound))
    assert bool((moved <= bound).all()), (
        f"entry {worst} moved {float(moved[worst]):.3g}, bound {float(bound[worst]):.3g}")


@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_one_hot_weights_on_a_half_pool_give_the_candidate_rounded_to_it(setting, tiny_candidates,
                                                                         dtype):
    pool = setting.pools[f"{dtype}"]
    method = build_method("weights")
    for i, path in enumerate(tiny_candidates):
        out = method.combine(pool, {"w": np.eye(3)[i]}, pool.empty_merge_buffer())
        merged = pool.unflatten(out)
        for name, tensor in load_file(str(path / "model.safetensors")).items():
            expected = tensor.to(dtype).float() if tensor.is_floating_point() else tensor
            assert merged[name].dtype == expected.dtype, name
            assert torch.equal(merged[name], expected), name
