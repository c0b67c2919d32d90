"""Figures of merge coefficients by parameter group: the pick's weights as a heatmap
(groups × candidates) and the Pareto points' weights as one line per point in each group.

Coefficient names follow the study's search space: a block-wise study names a per-group
variable ``"{group}__{var}"`` (``embeddings__w``, ``block0__w``, …, ``head__w``: a list of K
weights, or one number per group for a per-group scalar) and keeps global scalars under
plain names (``density``); a model-level study's variables have plain names (``w``), and
its one group is called ``model``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import plotly.graph_objects as go

from bomerge.search.pareto import TrialRecord

SEPARATOR = "__"
MODEL_GROUP = "model"
PICK_COLOUR = "#d62728"


@dataclass
class GroupedCoefficients:
    """One record's coefficients by kind: ``vectors[var][group]`` lists of K weights,
    ``scalars[var][group]`` per-group numbers, ``globals`` plain scalars."""

    vectors: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    scalars: dict[str, dict[str, float]] = field(default_factory=dict)
    globals: dict[str, float] = field(default_factory=dict)

    @property
    def groups(self) -> list[str]:
        """Every group named, in the order the coefficients name them."""
        named = (*self.vectors.values(), *self.scalars.values())
        return list(dict.fromkeys(g for by_group in named for g in by_group))


def per_candidate(coefficients: dict[str, list[float] | float]) -> dict[str, list[float] | float]:
    """Coefficients with one scalar per candidate (``lambda_0`` … ``lambda_{K−1}``, or
    ``block0__lambda_0`` …) folded into one list ``lambda`` (``block0__lambda``), as a
    simplex's weights are: they are drawn over the candidates alike."""
    folded: dict[str, list[float] | float] = {}
    series: dict[str, dict[int, float]] = {}
    for name, value in coefficients.items():
        stem, _, suffix = name.rpartition("_")
        if stem and suffix.isdigit() and not isinstance(value, list):
            series.setdefault(stem, {})[int(suffix)] = float(value)
    for name, value in coefficients.items():
        stem, _, suffix = name.rpartition("_")
        members = series.get(stem, {})
        if (stem and suffix.isdigit() and len(members) > 1
                and set(members) == set(range(len(members)))):
            if stem not in folded:
                folded[stem] = [members[i] for i in range(len(members))]
        else:
            folded[name] = value
    return folded


def grouped(coefficients: dict[str, list[float] | float]) -> GroupedCoefficients:
    """Split a record's coefficients into per-group vectors, per-group scalars and global
    scalars; plain-named lists belong to the group ``model``; per-candidate scalars are
    vectors (``per_candidate``)."""
    found = GroupedCoefficients()
    for name, value in per_candidate(coefficients).items():
        group, var = name.split(SEPARATOR, 1) if SEPARATOR in name else (MODEL_GROUP, name)
        if isinstance(value, list):
            found.vectors.setdefault(var, {})[group] = [float(v) for v in value]
        elif SEPARATOR in name:
            found.scalars.setdefault(var, {})[group] = float(value)
        else:
            found.globals[name] = float(value)
    return found


def _rows(parts: GroupedCoefficients) -> list[tuple[str, str, str]]:
    """(row label, var, group) of every per-group vector; the var is named only when there
    are several."""
    several = len(parts.vectors) > 1
    return [(f"{group} · {var}" if several else group, var, group)
            for var, by_group in parts.vectors.items() for group in by_group]


def pick_heatmap(pick: TrialRecord) -> go.Figure | None:
    """The pick's weights: one row per group (per group and variable when a method has
    several weight vectors), one column per candidate; per-group and global scalars in the
    title. A pick with scalars only (TIES's density and λ, WUDI's scale) is drawn as bars
    of them; one with no coefficients at all gives None (nothing to draw)."""
    parts = grouped(pick.coefficients)
    rows = _rows(parts)
    if not rows:
        return scalar_bars(pick, parts)
    width = max((len(parts.vectors[var][group]) for _, var, group in rows), default=0)
    z = [parts.vectors[var][group] + [None] * (width - len(parts.vectors[var][group]))
         for _, var, group in rows]
    figure = go.Figure()
    if rows:
        figure.add_trace(go.Heatmap(
            z=z, x=[f"candidate {i}" for i in range(width)], y=[label for label, _, _ in rows],
            colorscale="Blues", zmin=0, colorbar={"title": "weight"},
            text=[[("" if v is None else f"{v:.3f}") for v in row] for row in z],
            texttemplate="%{text}", hovertemplate="%{y}, %{x}: %{z:.4f}<extra></extra>",
        ))
    notes = [f"{var}: " + ", ".join(f"{g} {v:.3g}" for g, v in by_group.items())
             for var, by_group in parts.scalars.items()]
    notes += [f"{name} {value:.3g}" for name, value in parts.globals.items()]
    trial = f"trial {pick.index}" if pick.index is not None else pick.arm
    figure.update_layout(
        title=f"Weights of the pick ({trial}) by group" + (
            f"<br><sup>{'; '.join(notes)}</sup>" if notes else ""),
        xaxis_title="candidate", yaxis={"title": "group", "autorange": "reversed"},
        height=max(320, 170 + 44 * len(rows)),
    )
    return figure


def scalar_bars(pick: TrialRecord, parts: GroupedCoefficients) -> go.Figure | None:
    """The pick's scalar coefficients as bars (per-group ones named ``group · var``), or
    None when it has none."""
    names = [*parts.globals, *(f"{g} · {var}" for var, by in parts.scalars.items() for g in by)]
    values = [*parts.globals.values(), *(v for by in parts.scalars.values() for v in by.values())]
    if not names:
        return None
    trial = f"trial {pick.index}" if pick.index is not None else pick.arm
    figure = go.Figure(go.Bar(x=names, y=values, marker={"color": PICK_COLOUR},
                              text=[f"{v:.3g}" for v in values], textposition="outside"))
    figure.update_layout(title=f"Coefficients of the pick ({trial}, {pick.method})",
                         yaxis_title="value", height=360)
    return figure


def group_lines(front: list[TrialRecord], pick_index: int | None) -> go.Figure | None:
    """The Pareto points' coefficients by group: one panel per group (per group and
    variable), the weights of each Pareto point as a line over the candidates, the pick
    in bold; per-group scalars get one panel per variable, a line over the groups. None
    when no Pareto point has weights over the candidates or per-group coefficients."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    parsed = [(r, grouped(r.coefficients)) for r in front]
    panels: list[tuple[str, str, str | None]] = []  # (title, var, group or None for scalars)
    for _, parts in parsed:
        for label, var, group in _rows(parts):
            if (label, var, group) not in panels:
                panels.append((label, var, group))
        for var in parts.scalars:
            if (var, var, None) not in panels:
                panels.append((var, var, None))
    if not panels:
        return None
    columns = max(1, min(4, len(panels)))
    rows = max(1, math.ceil(len(panels) / columns))
    figure = make_subplots(rows=rows, cols=columns,
                           subplot_titles=[title for title, _, _ in panels] or None,
                           shared_yaxes=True, horizontal_spacing=0.04,
                           vertical_spacing=min(0.16, 0.6 / rows))
    palette = [c for c in qualitative.D3 if c.lower() != PICK_COLOUR]
    for n, (_, var, group) in enumerate(panels):
        at = {"row": n // columns + 1, "col": n % columns + 1}
        for m, (r, parts) in enumerate(parsed):
            if group is None:
                by_group = parts.scalars.get(var, {})
                x, y = list(by_group), list(by_group.values())
            else:
                y = parts.vectors.get(var, {}).get(group, [])
                x = [f"c{i}" for i in range(len(y))]
            if not y:
                continue
            chosen = r.index is not None and r.index == pick_index
            name = f"trial {r.index}" if r.index is not None else r.arm
            figure.add_trace(go.Scatter(
                x=x, y=y, mode="lines+markers", name=name + (" (pick)" if chosen else ""),
                legendgroup=name, showlegend=n == 0,
                line={"width": 3.5 if chosen else 1.2,
                      "color": PICK_COLOUR if chosen else palette[m % len(palette)]},
                opacity=1.0 if chosen else 0.7,
                hovertemplate=f"{name}<br>%{{x}}: %{{y:.4f}}<extra></extra>",
            ), **at)
    figure.update_layout(
        title="Coefficients of the Pareto points by group (one line per point; c0, c1, … "
              "are the candidates)",
        height=max(340, 280 * rows), legend={"orientation": "h", "y": -0.12},
    )
    return figure
