"""Plotly figures of a study: the objective plane, search progress, Pareto coefficients.

Every figure takes ``TrialRecord``s (trials of the study with an index, baselines of other
methods without one) so the page, the PNG and the tests draw from one source.
"""

from __future__ import annotations

import plotly.graph_objects as go

from bomerge.search.pareto import STOPPED, ProgressPoint, TrialRecord, pareto_set

PICK_COLOUR = "#d62728"
BASELINE_COLOUR = "#444444"


def _label(r: TrialRecord) -> str:
    trial = f"trial {r.index}" if r.index is not None else "no trial"
    return f"{r.arm} ({r.method}, {trial}, {r.node})"


def front_line(records: list[TrialRecord]) -> list[TrialRecord]:
    """Pareto points ordered by loss, the order the front's line joins them."""
    return sorted(pareto_set(records), key=lambda r: (r.loss, -r.metric))  # type: ignore[arg-type, operator]


def objective_plane(
    records: list[TrialRecord], others: list[TrialRecord], pick: TrialRecord | None, metric: str
) -> go.Figure:
    """Selection loss (x) against selection metric (y): search trials coloured by trial number, the
    Pareto front as a line, baselines as labelled markers, the pick as a star.

    Traces, in order: ``trials`` (one point per completed non-baseline trial), ``Pareto
    front``, ``baselines`` (the study's baseline arms and other methods' baselines), ``pick``,
    ``stopped early`` (trials stopped early, at their running scores).
    """
    done = [r for r in records if r.completed]
    search = [r for r in done if not r.is_baseline]
    baselines = [r for r in done if r.is_baseline] + [r for r in others if r.completed]
    front = front_line(done)
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        name="trials", x=[r.loss for r in search], y=[r.metric for r in search], mode="markers",
        marker={"size": 9, "color": [r.index for r in search], "colorscale": "Viridis",
                "showscale": True, "colorbar": {"title": "trial"}},
        text=[_label(r) for r in search], hovertemplate="%{text}<br>loss %{x:.4f}<br>"
        f"{metric} %{{y:.4f}}<extra></extra>",
    ))
    figure.add_trace(go.Scatter(
        name="Pareto front", x=[r.loss for r in front], y=[r.metric for r in front],
        mode="lines", line={"shape": "hv", "color": PICK_COLOUR, "dash": "dot"},
        hoverinfo="skip",
    ))
    figure.add_trace(go.Scatter(
        name="baselines", x=[r.loss for r in baselines], y=[r.metric for r in baselines],
        mode="markers+text", text=[r.arm for r in baselines], textposition="top center",
        marker={"size": 11, "symbol": "diamond", "color": BASELINE_COLOUR},
        customdata=[_label(r) for r in baselines],
        hovertemplate="%{customdata}<br>loss %{x:.4f}<br>" f"{metric} %{{y:.4f}}<extra></extra>",
    ))
    chosen = [pick] if pick is not None and pick.completed else []
    figure.add_trace(go.Scatter(
        name="pick", x=[r.loss for r in chosen], y=[r.metric for r in chosen], mode="markers",
        marker={"size": 20, "symbol": "star", "color": PICK_COLOUR,
                "line": {"width": 1, "color": "black"}},
        text=[_label(r) for r in chosen], hovertemplate="pick: %{text}<extra></extra>",
    ))
    stopped = [r for r in records if r.status == STOPPED and r.loss is not None]
    figure.add_trace(go.Scatter(
        name="stopped early", x=[r.loss for r in stopped], y=[r.metric for r in stopped],
        mode="markers", marker={"size": 8, "symbol": "x", "color": "#9e9e9e"},
        text=[_label(r) for r in stopped], hovertemplate="%{text} (stopped early: running "
        "scores)<br>loss %{x:.4f}<br>" f"{metric} %{{y:.4f}}<extra></extra>",
    ))
    figure.update_layout(
        title="Objective plane (selection rows): loss ↓ against " + metric + " ↑",
        xaxis_title="selection loss", yaxis_title=f"selection {metric}", height=560,
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def progress_figure(points: list[ProgressPoint], metric: str,
                    reference: tuple[float, float]) -> go.Figure:
    """Dominated hypervolume (left axis) and best metric so far (right axis) by trial."""
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        name="hypervolume", x=[p.index for p in points], y=[p.hypervolume for p in points],
        mode="lines+markers",
    ))
    figure.add_trace(go.Scatter(
        name=f"best {metric}", x=[p.index for p in points], y=[p.best_metric for p in points],
        mode="lines+markers", yaxis="y2",
    ))
    figure.update_layout(
        title=f"Search progress (hypervolume above loss {reference[0]:.4g}, "
              f"{metric} {reference[1]:.4g})",
        xaxis_title="trial", yaxis={"title": "dominated hypervolume"},
        yaxis2={"title": f"best selection {metric}", "overlaying": "y", "side": "right"},
        height=420, legend={"orientation": "h", "y": -0.2},
    )
    return figure


def coefficients_figure(front: list[TrialRecord]) -> go.Figure | None:
    """The merge coefficients of the Pareto points: simplex variables as stacked bars (one
    segment per candidate), scalar variables as grouped bars, one bar per Pareto trial.
    Only the study's global variables (plain names): a block-wise study's per-group ones
    (``group__var``) are drawn by ``bomerge.report.coefficients``."""
    from bomerge.report.coefficients import per_candidate

    figure = go.Figure()
    labels = [(f"trial {r.index}" if r.index is not None else r.arm) + f" · {r.method}"
              for r in front]
    folded = [per_candidate(r.coefficients) for r in front]
    names = list(dict.fromkeys(name for c in folded for name in c if "__" not in name))
    if not names:
        return None
    for name in names:
        values = [c.get(name) for c in folded]
        if any(isinstance(v, list) for v in values):
            width = max(len(v) for v in values if isinstance(v, list))
            for i in range(width):
                figure.add_trace(go.Bar(
                    name=f"{name}[{i}] (candidate {i})", x=labels,
                    y=[v[i] if isinstance(v, list) else None for v in values],
                    offsetgroup=name,
                ))
        else:
            figure.add_trace(go.Bar(name=name, x=labels, y=values, offsetgroup=name))
    figure.update_layout(
        title="Coefficients of the Pareto points", barmode="stack", height=420,
        yaxis_title="value", legend={"orientation": "h", "y": -0.25},
    )
    return figure
