"""bomerge.report: the pick's weights as a heatmap (groups × candidates), the Pareto points'
weights as per-group lines, for block-wise (``group__var``) and model-level (``w``)
studies, and the report table with both picks and the pick's intervals."""

from __future__ import annotations

from pathlib import Path

from bomerge.config import parse_config
from bomerge.report.coefficients import group_lines, grouped, pick_heatmap
from bomerge.report.page import render
from bomerge.report.view import StudyView, pick_lines, report_rows
from bomerge.search.pareto import TrialRecord, pick_on_front
from tests.conftest import tiny_study_dict

GROUPS = ["embeddings", "block0", "block1", "head"]


def blockwise(index: int, loss: float, metric: float) -> TrialRecord:
    weights = {f"{g}__w": [round(0.1 * (i + index % 3), 3), 0.5, round(0.4 - 0.1 * i, 3)]
               for i, g in enumerate(GROUPS)}
    return TrialRecord(index, f"{index}_0", "qLogNEHVI", "COMPLETED",
                       {**weights, "density": 0.2}, loss, metric, method="ties")


def model_level(index: int, loss: float, metric: float) -> TrialRecord:
    return TrialRecord(index, f"{index}_0", "Sobol", "COMPLETED", {"w": [0.2, 0.3, 0.5]},
                       loss, metric, method="weights")


def test_coefficients_are_grouped_by_the_block_wise_naming_convention():
    parts = grouped({"embeddings__w": [0.5, 0.5], "head__w": [1.0, 0.0], "block0__scale": 0.3,
                     "block1__scale": 0.4, "density": 0.2})
    assert parts.vectors == {"w": {"embeddings": [0.5, 0.5], "head": [1.0, 0.0]}}
    assert parts.scalars == {"scale": {"block0": 0.3, "block1": 0.4}}
    assert parts.globals == {"density": 0.2}
    assert parts.groups == ["embeddings", "head", "block0", "block1"]
    model = grouped({"w": [0.2, 0.8]})
    assert model.vectors == {"w": {"model": [0.2, 0.8]}} and model.groups == ["model"]


def test_the_pick_heatmap_has_a_row_per_group_and_a_column_per_candidate():
    figure = pick_heatmap(blockwise(7, 0.5, 0.8))
    heatmap = figure.data[0]
    assert list(heatmap.y) == GROUPS
    assert list(heatmap.x) == ["candidate 0", "candidate 1", "candidate 2"]
    assert [list(row) for row in heatmap.z][1] == [0.2, 0.5, 0.3]  # block0: 0.1·(1 + 1)
    assert "trial 7" in figure.layout.title.text and "density 0.2" in figure.layout.title.text

    plain = pick_heatmap(model_level(3, 0.5, 0.8)).data[0]
    assert list(plain.y) == ["model"] and [list(r) for r in plain.z] == [[0.2, 0.3, 0.5]]


def test_pareto_points_are_drawn_as_one_line_per_point_in_each_group():
    front = [blockwise(i, 0.5 + 0.01 * i, 0.8 - 0.01 * i) for i in range(3)]
    figure = group_lines(front, pick_index=1)
    titles = [a.text for a in figure.layout.annotations]
    assert titles == GROUPS
    assert len(figure.data) == len(GROUPS) * len(front)
    picked = [t for t in figure.data if t.name == "trial 1 (pick)"]
    assert len(picked) == len(GROUPS) and all(t.line.width > 3 for t in picked)
    assert (list(figure.data[0].x) == ["c0", "c1", "c2"]
            and list(figure.data[0].y) == front[0].coefficients["embeddings__w"])
    one = group_lines([model_level(i, 0.5, 0.8) for i in range(2)], pick_index=0)
    assert [a.text for a in one.layout.annotations] == ["model"] and len(one.data) == 2


def _result() -> dict:
    def entry(trial, metric, predictions=None):
        return {"trial": trial, "arm": f"{trial}_0", "method": "ties",
                "selection": {"loss": 0.5, "metric": 0.8},
                "report": {"loss": 0.5, "metric": metric},
                "predictions": predictions or f"trial_{trial}"}

    return {
        "report_rows": 120, "trials": 3, "metric": "accuracy", "pick_by": "model",
        "picked_on": "model", "model_pick_note": None,
        "scores": {"pick": entry(1, 0.81),
                   "uniform": {"trial": None, "arm": "uniform", "method": "weights",
                               "selection": {"loss": 0.6, "metric": 0.7},
                               "report": {"loss": 0.6, "metric": 0.71}}},
        "picks": {"observed": entry(2, 0.79), "model": entry(1, 0.81)},
        "claims": {"method": "paired bootstrap over the report rows", "resamples": 2000,
                   "level": 0.95, "seed": 0, "rows": 120, "against": {
                       "uniform": {"difference": 0.1, "low": 0.04, "high": 0.16,
                                   "verdict": "better"},
                       "observed_pick": {"difference": 0.02, "low": -0.01, "high": 0.05,
                                         "verdict": "tie"}}},
    }


def test_the_page_shows_the_pick_weights_the_group_lines_and_the_intervals(tmp_path: Path):
    config = parse_config(tiny_study_dict(tmp_path, tmp_path / "studies", name="page"), "x",
                          tmp_path)
    records = [blockwise(i, 0.5 + 0.02 * i, 0.8 - 0.01 * i * (i % 2)) for i in range(3)]
    result = _result()
    view = StudyView("page", config, records, [], pick_on_front(records, "best_metric"), result,
                     ["/c/0", "/c/1", "/c/2"])
    assert [label for label, _ in report_rows(result)] == ["pick", "observed_pick", "uniform"]
    assert pick_lines(result)[0] == ("Pick chosen on the GP's posterior means "
                                     "(search.pick_by: model).")
    assert "trial 2 (report accuracy 0.7900)" in pick_lines(result)[1]
    page = render(view)
    for div in ("pick-weights", "coefficient-lines", "coefficients", "objective-plane"):
        assert f'id="{div}"' in page
    assert "pick − this [95% CI]" in page
    assert "+0.1000 [+0.0400, +0.1600] better" in page
    assert "+0.0200 [-0.0100, +0.0500] tie" in page
    assert "an interval that holds 0 is a tie" in page
