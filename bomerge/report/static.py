"""A static PNG of the objective plane (matplotlib, no browser), for papers and terminals."""

from __future__ import annotations

from pathlib import Path

from bomerge.report.figures import BASELINE_COLOUR, PICK_COLOUR, front_line
from bomerge.report.view import StudyView


def write_plane_png(view: StudyView, path: Path, dpi: int = 150) -> Path:
    """The objective plane as ``path`` (PNG): trials coloured by index, the Pareto front,
    labelled baselines and the pick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in view.records if r.completed]
    search = [r for r in done if not r.is_baseline]
    baselines = [r for r in done if r.is_baseline] + [r for r in view.others if r.completed]
    figure, axes = plt.subplots(figsize=(8, 5.5))
    try:
        if search:
            points = axes.scatter([r.loss for r in search], [r.metric for r in search],
                                  c=[r.index for r in search], cmap="viridis", s=30,
                                  label="trials", zorder=3)
            figure.colorbar(points, ax=axes, label="trial")
        front = front_line(done)
        axes.step([r.loss for r in front], [r.metric for r in front], where="post",
                  color=PICK_COLOUR, linestyle=":", label="Pareto front")
        axes.scatter([r.loss for r in baselines], [r.metric for r in baselines], marker="D",
                     color=BASELINE_COLOUR, s=36, label="baselines", zorder=4)
        for r in baselines:
            axes.annotate(r.arm, (r.loss, r.metric), textcoords="offset points", xytext=(4, 4),
                          fontsize=7)
        axes.scatter([view.pick.loss], [view.pick.metric], marker="*", s=260, color=PICK_COLOUR,
                     edgecolors="black", label=f"pick (trial {view.pick.index})", zorder=5)
        axes.set_xlabel("selection loss ↓")
        axes.set_ylabel(f"selection {view.metric} ↑")
        axes.set_title(f"{view.name}: {view.state.split(' — ')[0]}", fontsize=10)
        axes.legend(fontsize=8, loc="lower left")
        axes.grid(alpha=0.3)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=dpi)
    finally:
        plt.close(figure)
    return path
