"""bomerge.report: the study page (plotly, self-contained), its figures and the static PNG,
and the page as a real browser draws it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from bomerge.config import parse_config
from bomerge.report.figures import objective_plane
from bomerge.report.page import render, write_page
from bomerge.report.static import write_plane_png
from bomerge.report.view import StudyView
from bomerge.search.pareto import TrialRecord, pick_on_front
from tests.conftest import REPO, tiny_study_dict
from tests.helpers import BROWSER_FLAGS, chromium

ARTIFACTS = Path(os.environ.get("BOMERGE_TEST_ARTIFACTS", REPO / "test-artifacts"))
def _record(index: int | None, arm: str, node: str, loss: float, metric: float,
            method: str = "weights") -> TrialRecord:
    return TrialRecord(index, arm, node, "COMPLETED", {"w": [0.5, 0.25, 0.25]}, loss, metric,
                       method=method)


def make_view(tmp_path: Path, result: dict | None = None) -> StudyView:
    config = parse_config(tiny_study_dict(tmp_path, tmp_path / "studies", name="page"), "x",
                          tmp_path)
    baselines = [_record(i, f"candidate_{i}", "baseline", 0.60 - 0.02 * i, 0.70 + 0.01 * i)
                 for i in range(3)] + [_record(3, "uniform", "baseline", 0.55, 0.74)]
    search = [_record(4 + i, f"{4 + i}_0", "Sobol" if i < 2 else "qLogNEHVI",
                      0.50 + 0.03 * (i % 3), 0.72 + 0.01 * i) for i in range(6)]
    records = baselines + search
    others = [_record(None, "fisher", "baseline", 0.58, 0.71, "fisher"),
              _record(None, "ties", "baseline", 0.65, 0.69, "ties")]
    return StudyView("page", config, records, others, pick_on_front(records, "best_metric"), result,
                     ["/c/0", "/c/1", "/c/2"])


def test_objective_plane_draws_every_trial_baseline_and_the_pick(tmp_path):
    view = make_view(tmp_path)
    figure = objective_plane(view.records, view.others, view.pick, "accuracy")
    traces = {trace.name: trace for trace in figure.data}
    assert len(traces["trials"].x) == 6  # search trials, coloured by index
    assert list(traces["trials"].marker.color) == [4, 5, 6, 7, 8, 9]
    assert list(traces["baselines"].text) == ["candidate_0", "candidate_1", "candidate_2",
                                              "uniform", "fisher", "ties"]
    assert list(traces["pick"].x) == [view.pick.loss]
    front = [(r.loss, r.metric) for r in view.front]
    assert sorted(zip(traces["Pareto front"].x, traces["Pareto front"].y,
                      strict=False)) == sorted(front)


def test_page_is_self_contained_and_states_the_rule_and_the_state(tmp_path):
    page = render(make_view(tmp_path))
    assert "<script src=" not in page  # plotly.js inlined: opens with no network
    assert "Plotly.newPlot" in page
    assert ("pick rule best_metric" in page
            and "selection part (50%) of the &#x27;dev&#x27; split" in page)
    # the budget is reached but no report-row scores were written: still incomplete
    assert "incomplete: 6 search trials done (budget 5)" in page
    assert "bomerge study resume page" in page
    finished = make_view(tmp_path, result={"report_rows": 120, "trials": 10, "scores": {
        "pick": {"trial": 9, "method": "weights", "selection": {"metric": 0.77},
                 "report": {"loss": 0.5, "metric": 0.75}}}})
    page = render(finished)
    assert "complete: 6 search trials" in page and "120 rows the search never saw" in page


def test_png_of_the_objective_plane(tmp_path):
    path = write_plane_png(make_view(tmp_path), tmp_path / "plane.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def _points(dom: str, div_id: str) -> list[tuple[int, int]]:
    """(markers, text labels) per scatter trace inside the figure div ``div_id``."""
    start = dom.index(f'id="{div_id}"')
    section = dom[start: dom.find("<h2>", start)]
    traces = section.split('<g class="trace scatter')[1:]
    return [(t.count('class="point"'), t.count('class="textpoint"')) for t in traces]


def test_a_real_browser_draws_the_plots(tmp_path):
    browser = chromium()
    view = make_view(tmp_path)
    page = write_page(view, tmp_path / "report.html")
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run([browser, *BROWSER_FLAGS, *profile, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    # trials (6 markers), Pareto line, baselines (6 labelled), pick (1 star)
    assert _points(dom, "objective-plane") == [(6, 0), (0, 0), (0, 6), (1, 0)]
    # hypervolume and best metric: one marker per completed trial with an index
    assert _points(dom, "progress") == [(10, 0), (10, 0)]
    assert (len(re.findall(r'class="point"', dom[dom.index('id="coefficients"'):]))
            >= len(view.front))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    subprocess.run([browser, *BROWSER_FLAGS, *profile, "--window-size=1200,2400",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:4] == b"\x89PNG"
