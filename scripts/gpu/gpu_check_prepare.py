"""Fill ``gpu-check/`` (ignored by git) with what ``scripts/gpu/gpu_check.sh`` needs on a bare
GPU machine that cannot download anything:

* ``wheels/``: the Python packages bomerge needs that such a machine's image lacks (Ax,
  pydantic, SQLAlchemy, plotly and their own needs), at the versions installed here, built
  for the machine's Python (``--python-version``, default 3.12) on x86-64 Linux;
* ``data/glue/SST-2`` and ``data/glue/MRPC``: the header and the first ``--rows`` rows of
  the shared data's ``dev.tsv`` (and a few ``train.tsv`` rows), the real rows the
  evaluation and trial throughput are measured on;
* ``tokenizer/``: the uncased WordPiece tokenizer files of the packaged all-MiniLM-L6-v2
  (BERT's vocabulary; the 90 MB weights stay here: throughput needs only the shapes).

    python scripts/gpu/gpu_check_prepare.py [--data ../shared/data/glue] [--python-version 3.12]

The folder stays well under the 64 MiB a device call may carry (the size is printed).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "gpu-check"

#: packages bomerge imports that the GPU machine's image does not hold (its package list:
#: torch, transformers, botorch, gpytorch, pandas, scipy, rich, typer, pyyaml, pytest,
#: matplotlib, jinja2, markdown, narwhals, pyre-extensions, ... are there)
CARRIED = ["ax-platform", "pydantic", "pydantic-core", "annotated-types", "typing-inspection",
           "sqlalchemy", "plotly", "graphviz", "ipywidgets", "comm", "ipython", "decorator",
           "traitlets", "matplotlib-inline", "jedi", "parso", "prompt-toolkit", "wcwidth",
           "stack-data", "executing", "asttokens", "pure-eval", "pexpect", "ptyprocess",
           "pickleshare", "backcall",
           "typing-extensions"]  # pydantic-core needs a newer one than an image may hold
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux_2_35_x86_64"]
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json"]


def download_wheels(target: Path, python_version: str) -> None:
    """One wheel per carried package, at the version installed here."""
    target.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version(name)}" for name in CARRIED]
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               "--python-version", python_version, "--implementation", "cp", "-d", str(target)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    subprocess.run(command + pins, check=True)


def copy_rows(source: Path, target: Path, rows: int, train_rows: int) -> None:
    """The header and first rows of each task's dev.tsv (and train.tsv)."""
    for task in ("SST-2", "MRPC"):
        (target / task).mkdir(parents=True, exist_ok=True)
        for split, count in (("dev", rows), ("train", train_rows)):
            lines = (source / task / f"{split}.tsv").read_text(encoding="utf-8-sig").splitlines()
            (target / task / f"{split}.tsv").write_text("\n".join(lines[: count + 1]) + "\n",
                                                       encoding="utf-8")


def copy_tokenizer(target: Path) -> None:
    from bomerge.models import packaged_minilm_path

    target.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy2(packaged_minilm_path() / name, target / name)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "glue")
    parser.add_argument("--rows", type=int, default=400, help="dev rows per task")
    parser.add_argument("--python-version", default="3.12",
                        help="the GPU machine's Python (wheels are built for it)")
    parser.add_argument("--folder", type=Path, default=FOLDER, help="where to prepare")
    parser.add_argument("--no-wheels", action="store_true",
                        help="rows and tokenizer only (a machine that has the packages)")
    args = parser.parse_args()
    folder = args.folder.resolve()
    if folder.exists():
        shutil.rmtree(folder)
    if not args.no_wheels:
        download_wheels(folder / "wheels", args.python_version)
    copy_rows(args.data.resolve(), folder / "data" / "glue", args.rows, train_rows=64)
    copy_tokenizer(folder / "tokenizer")
    wheels = len(list((folder / "wheels").glob("*.whl")))
    print(f"{folder}: {folder_bytes(folder) / 2**20:.1f} MiB ({wheels} wheels, {args.rows} dev "
          f"rows per task, tokenizer); carry it: run(carry=['gpu-check'], ...)")


if __name__ == "__main__":
    main()
