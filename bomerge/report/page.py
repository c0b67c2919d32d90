"""One self-contained HTML page for a study: plotly.js is inlined, so the page opens with
no network. Figure divs have fixed ids (``objective-plane``, ``progress``, ``pick-weights``,
``coefficient-lines``, ``coefficients``) that tests and scripts can find; the report table
(``id=report``) shows the pick's paired bootstrap interval against every baseline."""

from __future__ import annotations

import datetime
import html
from pathlib import Path

import plotly.graph_objects as go

from bomerge.report.coefficients import group_lines, pick_heatmap
from bomerge.report.figures import coefficients_figure, objective_plane, progress_figure
from bomerge.report.view import StudyView, pick_lines, pick_name, report_rows, verdict
from bomerge.search.claims import claim_text
from bomerge.search.pareto import TrialRecord, progress, reference_point

FIGURE_IDS = ("objective-plane", "progress", "pick-weights", "coefficient-lines", "coefficients")
#: What the page says in place of a figure with nothing to draw.
NOTHING = {
    "pick-weights": "The pick has no coefficients: it is a fixed recipe with none to set.",
    "coefficient-lines": "No coefficients by group or by candidate to draw: the Pareto points' "
                         "coefficients are scalars, drawn below.",
    "coefficients": "Every coefficient of the Pareto points is one per group: they are drawn "
                    "by group above.",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
tr.pick { background: #fde2e2; font-weight: bold; }
.state { padding: 0.6em 1em; border-radius: 4px; }
.complete { background: #e6f4ea; } .incomplete { background: #fff4ce; }
"""


def _coefficients(r: TrialRecord) -> str:
    return " ".join(
        f"{k}=[{' '.join(f'{x:.3f}' for x in v)}]" if isinstance(v, list) else f"{k}={v:.3g}"
        for k, v in r.coefficients.items()
    )


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def trial_table(view: StudyView) -> str:
    """Every trial in index order, then other methods' baselines; pick and front marked."""
    front = {r.index for r in view.front}
    extra = view.extra_columns
    head = ("<tr><th>trial</th><th class=l>arm</th><th class=l>method</th><th class=l>node</th>"
            f"<th>status</th><th>loss</th><th>{html.escape(view.metric)}</th>"
            + "".join(f"<th>{html.escape(c)}</th>" for c in extra)
            + "<th class=l>coefficients</th><th class=l>Pareto</th></tr>")
    rows = []
    for r in [*view.records, *view.others]:
        is_pick = r.index is not None and r.index == view.pick.index
        mark = "★ pick" if is_pick else ("●" if r.index in front and r.index is not None else "")
        rows.append(
            f"<tr{' class=pick' if is_pick else ''}><td>{'' if r.index is None else r.index}</td>"
            f"<td class=l>{html.escape(r.arm)}</td><td class=l>{html.escape(r.method)}</td>"
            f"<td class=l>{html.escape(r.node)}</td><td>{html.escape(r.status)}</td>"
            f"<td>{_number(r.loss)}</td><td>{_number(r.metric)}</td>"
            + "".join(f"<td>{_number(r.extra.get(c))}</td>" for c in extra)
            + f"<td class=l>{html.escape(_coefficients(r))}</td><td class=l>{mark}</td></tr>"
        )
    return f"<table id=trials>{head}{''.join(rows)}</table>"


def report_table(view: StudyView) -> str:
    """Report-row scores of the picks and the baselines (from the stored result), with the
    pick's paired bootstrap interval against each; a gain whose interval holds 0 is a tie."""
    if view.result is None:
        return "<p>No report-row scores yet: the study has not finished.</p>"
    metric = html.escape(view.metric)
    against = (view.result.get("claims") or {}).get("against", {})
    rows = "".join(
        f"<tr{' class=pick' if label == 'pick' else ''}><td class=l>{html.escape(label)}</td>"
        f"<td class=l>{html.escape(s.get('method', ''))}</td>"
        f"<td>{'' if s['trial'] is None else s['trial']}</td>"
        f"<td>{_number(s['selection']['metric'])}</td><td>{_number(s['report']['loss'])}</td>"
        f"<td>{_number(s['report']['metric'])}</td>"
        + "".join(f"<td>{_number(s['report'].get(c))}</td>" for c in view.extra_columns)
        + (f"<td class=l>{html.escape(claim_text(against.get(label)))}</td>" if against else "")
        + "</tr>"
        for label, s in report_rows(view.result)
    )
    extra = "".join(f"<th>report {html.escape(c)}</th>" for c in view.extra_columns)
    claim = "<th class=l>pick − this [95% CI]</th>" if against else ""
    notes = "".join(f"<p>{html.escape(line)}</p>" for line in pick_lines(view.result))
    return (f"<table id=report><tr><th class=l>model</th><th class=l>method</th><th>trial</th>"
            f"<th>selection {metric}</th><th>report loss</th><th>report {metric}</th>{extra}"
            f"{claim}</tr>{rows}</table>{notes}")


def figures(view: StudyView) -> list[go.Figure | None]:
    """The page's figures in ``FIGURE_IDS`` order; None for one with nothing to draw."""
    search = view.config.search
    reference = reference_point(view.records, search.loss_threshold, search.metric_threshold)
    front = sorted(view.front, key=lambda r: r.index or 0)
    return [
        objective_plane(view.records, view.others, view.pick, view.metric),
        progress_figure(progress(view.records, reference), view.metric, reference),
        pick_heatmap(view.pick),
        group_lines(front, view.pick.index),
        coefficients_figure(front),
    ]


def figure_divs(view: StudyView, prefix: str = "", plotly_js: bool = True) -> list[str]:
    """Each figure as an HTML div (id ``prefix`` + its ``FIGURE_IDS`` entry), plotly.js
    inlined in the first when ``plotly_js``; a sentence where there is nothing to draw."""
    return [
        figure.to_html(full_html=False, include_plotlyjs=plotly_js and i == 0,
                       div_id=prefix + div_id, config={"displaylogo": False})
        if figure is not None else f"<p class=nothing id={prefix}{div_id}>{NOTHING[div_id]}</p>"
        for i, (figure, div_id) in enumerate(zip(figures(view), FIGURE_IDS, strict=True))
    ]


def render(view: StudyView) -> str:
    """The page as one HTML string."""
    divs = figure_divs(view)
    state_class = "complete" if view.complete else "incomplete"
    report_count = view.result["report_rows"] if view.result else None
    candidates = "".join(f"<li><code>{html.escape(c)}</code></li>" for c in view.candidates)
    generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>bomerge study {html.escape(view.name)}</title><style>{STYLE}</style></head>
<body>
<h1>Study <code>{html.escape(view.name)}</code></h1>
{f'<p id=verdict><b>{html.escape(verdict(view.result))}</b></p>' if view.result else ''}
<p class="state {state_class}" id=state>{html.escape(view.state)}</p>
<p>Task <b>{html.escape(view.config.task.name)}</b>, \
method <b>{html.escape(', '.join(view.config.merge.methods))}</b>,
{len(view.candidates)} candidates. Chosen on the {html.escape(view.selection_rule())}.
Pick: <b>{html.escape(pick_name(view.pick))}</b>, selection loss
{_number(view.pick.loss)}, selection {html.escape(view.metric)} {_number(view.pick.metric)},
coefficients {html.escape(_coefficients(view.pick))}.</p>
<h2>Report rows{f" ({report_count} rows the search never saw)" if report_count else ""}</h2>
{report_table(view)}
<h2>Objective plane</h2>{divs[0]}
<h2>Progress</h2>{divs[1]}
<h2>Coefficients of the pick</h2>{divs[2]}
<h2>Coefficients of the Pareto points by group</h2>{divs[3]}
<h2>Coefficients of the Pareto points</h2>{divs[4]}
<h2>Trials</h2>{trial_table(view)}
<h2>Candidates</h2><ol start=0>{candidates}</ol>
<p><small>Generated by bomerge on {generated}.</small></p>
</body></html>
"""


def write_page(view: StudyView, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(view), encoding="utf-8")
    return path
