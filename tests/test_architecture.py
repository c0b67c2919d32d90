"""The package's shape, as README.md "Architecture" states it: layers that import only
downwards (import-linter's contracts in pyproject.toml), no import cycles anywhere, small
modules, task names confined to their task's package, and every module's specification
in its own test file (or, listed here, the test files that specify it)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bomerge"
MAX_LINES = 400


def test_the_layer_contracts_in_pyproject_hold():
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports())"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken." in run.stdout


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively: the components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others_function_level_imports_included():
    graph = grimp.build_graph("bomerge", exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    # A package's __init__ importing its own modules (to register them) is how registries
    # fill; an import back from one of them into the package's __init__ would close a cycle.
    assert _strongly_connected(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert (_strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
            == [["a", "b", "c"]])


def test_no_source_file_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_task_names_appear_only_in_their_own_package():
    """The study, evaluator, statistics, training, report and CLI call the Task interface;
    none of them knows a particular task."""
    own = PACKAGE / "tasks" / "cs224n"
    mentions = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in PACKAGE.rglob("*.py") if own not in p.parents
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "cs224n" in line.lower() or "multitask" in line.lower()
    ]
    assert mentions == []


# Modules without a tests/<package>/test_<module>.py of their own: the test files that
# exercise them (one path, or several separated by ", ") and why they have no file of their
# own. A module that gets its own test file leaves this table.
SPECIFIED_ELSEWHERE: dict[str, tuple[str, str]] = {
    "__main__.py": ("tests/test_cli.py, tests/search/study/test_study_files.py",
                    "`python -m bomerge`, one line: every subprocess run of the CLI"),
    "cli/app.py": ("tests/test_cli.py, tests/search/test_runner.py",
                   "no behaviour of its own: the typer app, its consoles and shared options"),
    "cli/baseline.py": ("tests/test_cli.py, tests/cli/test_studies_dir.py, "
                        "tests/search/test_pick_from.py",
                        "`bomerge baseline` argument parsing and its table: tested through the "
                        "command"),
    "cli/evaluate.py": ("tests/test_cli.py, tests/search/test_cross_task_study.py, "
                        "tests/tasks/test_csv_study.py",
                        "`bomerge eval` argument parsing: tested through the command"),
    "cli/main.py": ("tests/test_cli.py, tests/test_bad_input.py",
                    "the entry point's exit codes and one-line errors: through every command"),
    "cli/study.py": ("tests/test_cli.py, tests/search/study/test_study_files.py, "
                     "tests/cli/test_studies_dir.py",
                     "`bomerge study ...` argument parsing: tested through the commands"),
    "cli/tables.py": ("tests/test_cli.py, tests/search/test_runner.py, "
                      "tests/search/study/test_study_files.py",
                      "the printed tables: read from the commands' output"),
    "cli/train.py": ("tests/test_cli.py", "`bomerge train` argument parsing: tested through "
                     "the command"),
    "config/merging.py": ("tests/test_config.py, tests/test_config_fuzz.py, "
                          "tests/config/test_reference.py",
                          "the merge: section's records: validated through bomerge.config"),
    "config/record.py": ("tests/test_config.py, tests/test_config_fuzz.py",
                         "the strict base record: unknown keys refused through bomerge.config"),
    "config/running.py": ("tests/test_config_fuzz.py, tests/config/test_reference.py, "
                          "tests/search/executors/test_ray.py, tests/search/test_bilevel.py, "
                          "tests/search/test_postgres.py",
                          "the ray:, outer: and storage: records: through the config and the "
                          "features they configure"),
    "config/sections.py": ("tests/test_config.py, tests/test_config_fuzz.py, "
                           "tests/config/test_reference.py",
                           "the task, data, candidates and search records: validated through "
                           "bomerge.config"),
    "config/training.py": ("tests/test_config.py, tests/config/test_reference.py, "
                           "tests/train/test_smart.py, tests/train/test_intermediate.py",
                           "the train: section's records: through bomerge.config and training"),
    "errors.py": ("tests/test_bad_input.py, tests/test_cli.py",
                  "no behaviour of its own: the one exception type users see"),
    "export.py": ("tests/test_cli.py, tests/search/study/test_study_files.py, "
                  "tests/search/test_blockwise_study.py, tests/search/test_cross_task_study.py",
                  "`bomerge study export`: the exported folder scores as the trial did"),
    "integrity.py": ("tests/test_bad_input.py, tests/test_cli.py",
                     "candidates' content hashes: a changed candidate refuses a resume, and "
                     "an export records them"),
    "merge/base.py": ("tests/merge/test_weights.py, tests/merge/test_choice.py, "
                      "tests/merge/test_pool_dtype.py, tests/search/test_space.py",
                      "what a merge method is (variables, prepare, combine, registry): through "
                      "every method's tests"),
    "merge/groups.py": ("tests/merge/test_blockwise.py",
                        "block-wise merging's parameter groups: specified with blockwise"),
    "merge/localize_stitch.py": ("tests/merge/test_task_vectors.py",
                                 "one of the task-vector methods specified together"),
    "merge/matrices.py": ("tests/merge/test_wudi.py, tests/merge/test_tsv.py",
                          "what WUDI and TSV-M share: through both methods"),
    "merge/mats.py": ("tests/merge/test_regmean_mats.py",
                      "specified with RegMean, whose statistics it shares"),
    "merge/regmean.py": ("tests/merge/test_regmean_mats.py",
                         "specified with MaTS, which shares its statistics"),
    "merge/statistics.py": ("tests/merge/test_fisher.py, tests/merge/test_regmean_mats.py, "
                            "tests/tasks/cs224n/test_fisher.py",
                            "Fisher diagonals and K-FAC factors: through the methods that "
                            "weight by them"),
    "merge/task_arithmetic.py": ("tests/merge/test_task_vectors.py",
                                 "one of the task-vector methods specified together"),
    "merge/ties.py": ("tests/merge/test_task_vectors.py, tests/merge/test_dare.py",
                      "one of the task-vector methods specified together"),
    "models.py": ("tests/tasks/cs224n/test_model.py, tests/tasks/test_imports.py, "
                  "tests/test_evaluate.py, tests/test_cli.py",
                  "model folders, tiny models and offline loading: through their users"),
    "report/figures.py": ("tests/report/test_page.py", "the page's figures: drawn on the page"),
    "report/static.py": ("tests/report/test_page.py", "the page's PNG: written with the page"),
    "report/view.py": ("tests/report/test_page.py, tests/report/test_coefficients.py, "
                       "tests/report/test_every_parameterisation.py",
                       "what a report shows: read from the page it feeds"),
    "scoring.py": ("tests/test_cli.py, tests/tasks/test_multi.py, tests/tasks/test_csv_study.py",
                   "`bomerge eval`'s scoring: an exported merge scores what the study recorded"),
    "search/ax_logging.py": ("tests/search/test_space.py, tests/search/test_client.py",
                             "one call that silences Ax's loggers, run by every study; nothing "
                             "asserts the silence"),
    "search/commands.py": ("tests/test_cli.py, tests/cli/test_studies_dir.py, "
                           "tests/test_bad_input.py",
                           "what the commands do below the CLI: tested through the commands"),
    "search/config_names.py": ("tests/test_config.py",
                               "resolving a config's names: specified with bomerge.config"),
    "search/consecutive_failures.py": ("tests/search/test_runner.py, "
                                       "tests/search/executors/test_loop.py",
                                       "the failure limit: through the runner's loop"),
    "search/executors/base.py": ("tests/search/executors/test_loop.py, "
                                 "tests/search/test_preflight.py",
                                 "the executor interface and registry: through the executors"),
    "search/executors/in_turn.py": ("tests/search/executors/test_loop.py",
                                    "specified with the runner's loop it drives"),
    "search/executors/overlapped.py": ("tests/search/executors/test_loop.py, "
                                       "tests/search/test_runner.py",
                                       "specified with the runner's loop it drives"),
    "search/executors/trial_worker.py": ("tests/search/executors/test_evaluation_process.py, "
                                         "tests/search/executors/test_ray.py",
                                         "the body of an evaluation process and a Ray actor: "
                                         "scores compared with the study process's"),
    "search/picks.py": ("tests/search/test_runner.py, tests/search/test_pick_from.py",
                        "a finished study's picks and result: through the runner's finish"),
    "search/ray_cluster.py": ("tests/search/executors/test_ray.py",
                              "reaching Ray: specified with the Ray executor"),
    "search/rebuild.py": ("tests/search/test_runner.py, tests/test_cli.py, "
                          "tests/search/test_pick_from.py",
                          "a recorded merge rebuilt: the report rows and exports it forms"),
    "search/records.py": ("tests/search/test_runner.py, tests/search/test_cross_task_study.py, "
                          "tests/search/test_method_choice.py, tests/search/test_client.py",
                          "reading a study's trials, objectives and pick: through every study "
                          "test"),
    "search/strategies/base.py": ("tests/search/strategies/test_gp.py, "
                                  "tests/search/strategies/test_parego.py",
                                  "the strategy interface and registry: through the strategies"),
    "search/study/check.py": ("tests/search/study/test_study_files.py",
                              "`bomerge study check` and the quick check: on damaged studies"),
    "search/study/recovery.py": ("tests/search/test_runner.py, "
                                 "tests/search/study/test_study_files.py, tests/test_crash.py",
                                 "what a crash leaves behind: re-run by the resumes after it"),
    "search/study/remedies.py": ("tests/search/study/test_study_files.py",
                                 "the messages about damaged files: on damaged studies"),
    "search/study/store.py": ("tests/search/study/test_study_files.py, "
                              "tests/cli/test_studies_dir.py, tests/test_crash.py",
                              "the on-disk study as a whole: its files, where it lives, crashes"),
    "search/trial.py": ("tests/search/test_runner.py, tests/search/executors/test_ray.py",
                        "one trial's merge and scoring: through the studies that run trials"),
    "search/workbench.py": ("tests/tasks/test_multi.py, tests/search/test_train_variants.py, "
                            "tests/test_bad_input.py",
                            "what a study keeps resident: through the studies that open it"),
    "tasks/classifier.py": ("tests/tasks/test_glue_files.py, tests/tasks/test_csv.py, "
                            "tests/test_evaluate.py",
                            "what the one-head tasks share: through glue and csv"),
    "tasks/cs224n/batches.py": ("tests/tasks/cs224n/test_evaluate.py, tests/tasks/test_base.py",
                                "the CS224N batches: specified with the task's scoring"),
    "tasks/cs224n/task.py": ("tests/tasks/cs224n/test_evaluate.py, "
                             "tests/tasks/cs224n/test_fisher.py, tests/tasks/cs224n/test_data.py",
                             "the CS224N task: its scoring, Fisher view and rows"),
    "tasks/encode.py": ("tests/test_evaluate.py, tests/tasks/test_csv.py",
                        "tokenizing and padding rows: through the one-head tasks' evaluation"),
    "tasks/multi/model.py": ("tests/tasks/test_multi.py",
                             "the cross-task model: specified with the multi task"),
    "tasks/multi/task.py": ("tests/tasks/test_multi.py",
                            "task multi: its package's specification"),
    "tasks/registry.py": ("tests/tasks/test_base.py, tests/tasks/test_glue.py",
                          "the task registry: specified with the Task interface"),
    "train/shuffled.py": ("tests/train/test_finetune.py, tests/train/test_smart.py",
                          "the one-head training loop: through finetune"),
    "train/snapshots.py": ("tests/train/test_finetune.py, tests/train/test_intermediate.py, "
                           "tests/test_crash.py",
                           "the snapshot keeper and start point: through finetune"),
}


def _own_test_file(module: str) -> Path:
    path = Path(module)
    return ROOT / "tests" / path.parent / f"test_{path.stem}.py"


def test_every_module_has_its_test_file_or_says_where_it_is_specified():
    """Tests read as the package's specification: tests/<package>/test_<module>.py for every
    module, or an entry in SPECIFIED_ELSEWHERE naming the test files that exercise it."""
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name != "__init__.py"}
    unaccounted = sorted(m for m in modules
                         if not _own_test_file(m).is_file() and m not in SPECIFIED_ELSEWHERE)
    stale = sorted(m for m in SPECIFIED_ELSEWHERE
                   if m not in modules or _own_test_file(m).is_file())
    missing = sorted(f"{m}: {name}" for m, (files, _) in SPECIFIED_ELSEWHERE.items()
                     for name in files.split(", ")
                     if not name.startswith("tests/") or not (ROOT / name).is_file())
    unexplained = sorted(m for m, (_, reason) in SPECIFIED_ELSEWHERE.items() if not reason)
    assert unaccounted == [], "modules without a test file of their own or an entry"
    assert stale == [], "entries for modules that have their own test file or are gone"
    assert missing == [], "entries naming test files that do not exist"
    assert unexplained == []


def test_no_test_module_imports_another_test_module():
    """Shared test code lives in tests/helpers.py and tests/conftest.py; a test module is
    the specification of its own module and is never imported by another."""
    tests = Path(__file__).resolve().parent
    offenders = [str(path.relative_to(tests)) for path in tests.rglob("test_*.py")
                 if re.search(r"^\s*(from|import) tests(\.\w+)*\.test_\w+", path.read_text(),
                              re.MULTILINE)]
    assert offenders == []
