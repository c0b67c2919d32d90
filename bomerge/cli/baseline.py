"""``bomerge baseline``: run fixed merging recipes through a study's evaluator and print
them in one table."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from bomerge.cli.app import AllowChanged, ConfigPath, ConfigStudiesDir, Quiet, app, warn_takeover
from bomerge.cli.tables import print_baselines


@app.command("baseline")
def baseline(
    config_path: ConfigPath,
    only: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--only", help="Run only these: candidates, individual, uniform, "
                                    "greedy_soup, task_arithmetic_grid or a merge method's "
                                    "name (an unknown name lists them all); repeatable."),
    ] = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Recompute recorded baselines.")] = False,
    quiet: Quiet = False,
    allow_changed: AllowChanged = False,
    studies_dir: ConfigStudiesDir = None,
) -> None:
    """Run fixed merging recipes through the study's evaluator and record them in the study
    (created if new): single candidates, uniform soup/SWA, greedy soup, Fisher, RegMean,
    MaTS, task arithmetic, TIES, Localize-and-Stitch."""
    from bomerge.search.commands import (
        baseline_names,
        check_baseline_study,
        hold_writer,
        place_study,
        run_baseline_command,
    )
    from bomerge.search.config_names import load_study_config

    config = load_study_config(config_path)
    names = baseline_names(config, only)
    config, store = place_study(config, studies_dir)
    check_baseline_study(store, config, names, explicit=bool(only), source=str(config_path))
    with hold_writer(store, warn_takeover(store)):
        run = run_baseline_command(store, config, names, rerun=rerun, strict=bool(only),
                            show_progress=not quiet, allow_changed=allow_changed)
    print_baselines(store.name, run.metric, run.selection_rows, run.report_rows, run.results,
                    run.fresh)
