"""Bad input, as a user meets it on the command line: one line naming the file, key or value
at fault, a non-zero exit, before any expensive work, and nothing already stored changed.

Every case runs against a studies folder that already holds a finished study, and checks
that no byte of that folder changed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from bomerge.config import parse_config
from bomerge.search.runner import StudyRunner
from bomerge.search.study.store import FORMAT_VERSION, StudyStore
from tests.conftest import tiny_study_dict, write_config, write_sst2_folder
from tests.helpers import assert_one_line_error, bomerge_here


@pytest.fixture(scope="module")
def kept_study(glue_root: Path, tiny_candidates: list[Path], tmp_path_factory) -> Path:
    """A studies folder holding one finished study ('keep') over the tiny candidates."""
    studies = tmp_path_factory.mktemp("bad-input") / "studies"
    data = tiny_study_dict(glue_root, studies, name="keep", trials=1, initial_trials=1,
                           baselines=False)
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in tiny_candidates]}
    config = parse_config(data, "fixture", studies)
    store = StudyStore(config.study_dir)
    store.create(config)
    StudyRunner(store, config, show_progress=False).run()
    return studies


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def config_dict(studies: Path, glue_root: Path, candidates: list[Path], **changes) -> dict:
    data = tiny_study_dict(glue_root, studies, name="bad")
    del data["train"]
    data["candidates"] = {"paths": [str(p) for p in candidates]}
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return data


def copy_candidate(source: Path, target: Path, edit: Callable[[Path], None]) -> Path:
    shutil.copytree(source, target)
    edit(target)
    return target


def swap_two_tokens(folder: Path) -> None:
    tokenizer = json.loads((folder / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    a, b = sorted(vocab, key=vocab.get)[10:12]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer))


def widen_classifier(folder: Path) -> None:
    weights = load_file(str(folder / "model.safetensors"))
    weights["classifier.bias"] = weights["classifier.bias"].repeat(2)
    save_file(weights, str(folder / "model.safetensors"))


def truncate_weights(folder: Path) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) * 2 // 3])


def bad_data_root(root: Path, dev_lines: list[str]) -> Path:
    write_sst2_folder(root, n_train=40, n_dev=4)
    (root / "SST-2" / "dev.tsv").write_text("\n".join(dev_lines) + "\n")
    return root


# (case id, how to build the command, fragments the one-line message must contain)
CASES = {
    "malformed YAML": (
        lambda t, s, g, c: ["study", "run",
                            str(_text(t, "name: bad\ntask:\n  name: sst2\n  eval: [1, 2\n"))],
        ["bad.yaml", "invalid YAML at line 5, column 1"],
    ),
    "unknown method": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, c, **{"merge.method": "fishr"})))],
        ["bad.yaml", "unknown merge method 'fishr'", " fisher, localize_stitch,"],
    ),
    "weights that cannot be normalised": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, c, **{"search.points": [{"w": [0.5, 0.5, 0.0]}, {"w": [0.0, 0.0, 0.0]}]})))],
        ["bad.yaml: search.points[1].w: [0.0, 0.0, 0.0] cannot be normalised to a weighting"],
    ),
    "weights of the wrong length": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, c, **{"search.points": [{"w": [1.0, 0.0]}]})))],
        ["bad.yaml: search.points[0].w: expected a list of 3 weights"],
    ),
    "different architectures": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, [c[0], copy_candidate(c[1], t / "wide", widen_classifier)])))],
        ["classifier.bias", "wide"],
    ),
    "different tokenizers": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, [c[0], copy_candidate(c[1], t / "retok", swap_two_tokens)])))],
        ["retok: tokenizer differs from", "token id 10", "must share one tokenizer"],
    ),
    "truncated safetensors": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, [c[0], copy_candidate(c[1], t / "cut", truncate_weights)])))],
        ["cut: cannot read the weights"],
    ),
    "data file with a missing column": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, bad_data_root(t / "data", ["sentence\tscore", "a film\t1"]), c)))],
        ["dev.tsv", "label"],
    ),
    "non-numeric label": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, bad_data_root(t / "data", ["sentence\tlabel", "a film\t1", "a plot\tpositive"]),
            c)))],
        ["dev.tsv", "line 3", "'positive' is not numeric"],
    ),
    "empty dev set": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, bad_data_root(t / "data", ["sentence\tlabel"]), c)))],
        ["dev.tsv: the dev split has no rows"],
    ),
    "dev set too small to split": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, bad_data_root(t / "data", ["sentence\tlabel", "a film\t1"]), c)))],
        ["task.eval: the dev split of 'sst2' has 1 rows", "both parts need rows"],
    ),
    "one candidate": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, c[:1])))],
        ["candidates: 1 candidate folder; a merge needs at least 2"],
    ),
    "a candidate listed twice": (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, [c[0], c[1], c[1].parent / "." / c[1].name])))],
        ["candidates: folder", "is listed twice", "each candidate once"],
    ),
    "study written by a newer format version": (
        lambda t, s, g, c: _newer_format(t, s),
        ["study.json: study format version 99 was written by a newer bomerge", "upgrade"],
    ),
}


if not torch.cuda.is_available():
    CASES["device cuda without a GPU"] = (
        lambda t, s, g, c: ["study", "run", str(write_config(t / "bad.yaml", config_dict(
            s, g, c, device="cuda")))],
        ["device 'cuda' requested but CUDA is not available"],
    )


def _text(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def _newer_format(tmp_path: Path, studies: Path) -> list[str]:
    copy = tmp_path / "studies-copy"
    shutil.copytree(studies, copy)
    meta = json.loads((copy / "keep" / "study.json").read_text())
    (copy / "keep" / "study.json").write_text(json.dumps(meta | {"format_version": 99}))
    return ["study", "resume", "keep", "--studies-dir", str(copy)]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_before_any_work_and_changes_nothing(
    case, kept_study, glue_root, tiny_candidates, tmp_path, capsys
):
    build, fragments = CASES[case]
    before = snapshot(kept_study)
    args = build(tmp_path, kept_study, glue_root, tiny_candidates)
    result = bomerge_here(capsys, *args)
    assert_one_line_error(result, *fragments)
    assert result.returncode == 2
    assert snapshot(kept_study) == before
    assert not (kept_study / "bad").exists()  # no study was created
    print(f"{case} -> {result.stderr.strip()}")  # the closing note's table (pytest -s)


def test_the_format_version_check_accepts_the_current_version(kept_study):
    assert StudyStore(kept_study / "keep").read_meta().format_version == FORMAT_VERSION


def test_changed_candidates_refuse_a_resume_unless_allowed(
    glue_root, tiny_candidates, tmp_path, capsys
):
    """The study records each candidate's SHA-256; a resume against other weights under the
    same path refuses, and --allow-changed-candidates accepts and records the new ones."""
    folders = [shutil.copytree(p, tmp_path / f"c{i}") for i, p in enumerate(tiny_candidates)]
    studies = tmp_path / "studies"
    data = config_dict(studies, glue_root, folders, **{"search.trials": 1,
                                                        "search.initial_trials": 1,
                                                        "search.baselines": False})
    config = write_config(tmp_path / "c.yaml", data)
    assert bomerge_here(capsys, "study", "run", str(config), "-q").returncode == 0
    meta = json.loads((studies / "bad" / "study.json").read_text())
    recorded = meta["candidate_sha256"][str(folders[1].resolve())]
    assert len(meta["candidate_sha256"]) == 3 and len(recorded) == 64

    widen = load_file(str(folders[1] / "model.safetensors"))
    widen["classifier.bias"] = widen["classifier.bias"] + 1.0
    save_file(widen, str(folders[1] / "model.safetensors"))
    before = snapshot(studies)
    refused = bomerge_here(capsys, "study", "resume", "bad", "--studies-dir", str(studies))
    assert_one_line_error(refused, f"candidate {folders[1].resolve()} changed",
                           recorded[:12], "--allow-changed-candidates")
    assert snapshot(studies) == before

    allowed = bomerge_here(capsys, "study", "resume", "bad", "--trials", "1",
                           "--allow-changed-candidates", "-q", "--studies-dir", str(studies))
    assert allowed.returncode == 0, allowed.stderr
    meta = json.loads((studies / "bad" / "study.json").read_text())
    assert meta["candidate_sha256"][str(folders[1].resolve())] != recorded
