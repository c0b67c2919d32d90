"""Every coefficient figure of the study page holds points, for every registered method at
model and block granularity, one-task (K = 3) and cross-task (K = 5) alike, and for the
method chosen per trial; a figure with nothing to draw is a sentence, never empty axes.
The pages' figures are drawn by a real browser (headless Chromium), all in one document."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from bomerge.config import parse_config
from bomerge.merge import METHODS, build_method
from bomerge.merge.base import Choice, MergeMethod, Simplex
from bomerge.merge.blockwise import blockwise
from bomerge.merge.choice import MethodChoice
from bomerge.report.page import FIGURE_IDS, figure_divs, figures
from bomerge.report.view import StudyView
from bomerge.search.pareto import TrialRecord, pick_on_front
from bomerge.search.space import SearchSpace
from tests.conftest import tiny_study_dict
from tests.helpers import BROWSER_FLAGS, chromium

GROUPS = ("embeddings", "block0", "block1", "head")
#: Every registered method at its defaults, and the options that change its variables.
SETTINGS = [(name, {}) for name in sorted(METHODS)] + [
    ("task_arithmetic", {"per_candidate": True}), ("dare_task_arithmetic", {"per_candidate": True})]
COEFFICIENT_FIGURES = ("pick-weights", "coefficient-lines", "coefficients")


def at(granularity: str, method: MergeMethod) -> MergeMethod | None:
    if granularity == "model":
        return method
    return blockwise(method, GROUPS) if method.grouped_variables(3) else None


def cases() -> list[tuple[str, MergeMethod, int]]:
    found = []
    for k, setting in ((3, "one-task"), (5, "cross-task")):
        for granularity in ("model", "block"):
            for name, options in SETTINGS:
                method = at(granularity, build_method(name, options))
                if method is not None:
                    label = "-".join([name, *(f"{o}" for o in options), granularity, setting])
                    found.append((label, method, k))
            members = [m for n in ("task_arithmetic", "ties", "regmean", "wudi", "tsv")
                       if (m := at(granularity, build_method(n))) is not None]
            found.append((f"choice-{granularity}-{setting}", MethodChoice(members), k))
    return found


def trial_records(method: MergeMethod, k: int, n: int = 12) -> list[TrialRecord]:
    """``n`` trials at random points of the method's space, recorded as a study records them."""
    rng = np.random.default_rng(0)
    space = SearchSpace(method.variables(k))
    records = []
    for index in range(n):
        params: dict = {}
        for var in space.variables:
            if isinstance(var, Choice):
                params[var.name] = var.options[index % len(var.options)]
            elif isinstance(var, Simplex):
                params.update({p: float(rng.random()) for p in space.parameter_names(var)})
            else:
                params[var.name] = float(rng.uniform(var.low, var.high))
        name, own = method.describe(space.decode(params))
        coefficients = {key: (np.round(v, 6).tolist() if isinstance(v, np.ndarray)
                              else round(float(v), 6))
                        for key, v in own.items()}
        records.append(TrialRecord(index, f"{index}_0", "Sobol", "COMPLETED", coefficients,
                                   float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.5, 0.9)),
                                   method=name))
    return records


def view_of(method: MergeMethod, k: int, tmp_path: Path) -> StudyView:
    config = parse_config(tiny_study_dict(tmp_path, tmp_path / "studies", name="v"), "x", tmp_path)
    records = trial_records(method, k)
    return StudyView("v", config, records, [], pick_on_front(records, "best_metric"), None,
                     [f"/c/{i}" for i in range(k)])


def has_vectors(record: TrialRecord) -> bool:
    """Whether a record has anything per candidate or per group to draw in lines."""
    from bomerge.report.coefficients import grouped

    parts = grouped(record.coefficients)
    return bool(parts.vectors or parts.scalars)


CASES = cases()


@pytest.mark.parametrize("label,method,k", CASES, ids=[c[0] for c in CASES])
def test_each_coefficient_figure_is_drawn_or_says_there_is_nothing(label, method, k, tmp_path):
    view = view_of(method, k, tmp_path)
    drawn = dict(zip(FIGURE_IDS, figures(view), strict=True))
    assert drawn["pick-weights"] is not None
    # global coefficients are drawn together; per-group ones (block0__w) by group
    assert drawn["coefficients"] is not None or drawn["coefficient-lines"] is not None
    for fid in COEFFICIENT_FIGURES:
        figure = drawn[fid]
        if figure is not None:
            assert any(len(getattr(t, "y", None) or getattr(t, "z", None) or [])
                       for t in figure.data)
    lines_expected = any(has_vectors(r) for r in view.front)
    assert (drawn["coefficient-lines"] is not None) == lines_expected


def test_a_real_browser_draws_points_in_every_coefficient_figure_of_every_case(tmp_path):
    browser = chromium()
    body = []
    for n, (_label, method, k) in enumerate(CASES):
        divs = figure_divs(view_of(method, k, tmp_path), prefix=f"case{n}-", plotly_js=n == 0)
        body += [f"<section id=s-case{n}-{fid}>{div}</section>"
                 for fid, div in zip(FIGURE_IDS, divs, strict=True) if fid in COEFFICIENT_FIGURES
                 or n == 0]
    page = tmp_path / "gallery.html"
    page.write_text("<!DOCTYPE html><html><body>" + "".join(body) + "</body></html>")
    dom = subprocess.run([browser, *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=300).stdout
    sections = {part.split(">", 1)[0].strip('"'): part for part in dom.split("<section id=")[1:]}
    for n, (label, _, _) in enumerate(CASES):
        for fid in COEFFICIENT_FIGURES:
            section = sections[f"s-case{n}-{fid}"]
            drawn = 'class="point"' in section or "<image" in section
            assert drawn or 'class="nothing"' in section, (label, fid)
            if fid == "pick-weights":
                assert drawn, (label, fid)
