"""scripts/gpu/gpu_check.sh: the one command that measures bomerge on a GPU runs every step
(merge, evaluation, trials, the CUDA tests) end to end; here on the CPU at small sizes, so
the first GPU machine it meets runs it unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO


def test_the_gpu_check_runs_every_step_on_the_cpu_and_writes_its_table_and_json(
    shared_glue_root, tmp_path
):
    prepared = tmp_path / "prepared"
    subprocess.run([sys.executable, "scripts/gpu/gpu_check_prepare.py", "--no-wheels",
                    "--rows", "24",
                    "--data", str(shared_glue_root), "--folder", str(prepared)],
                   cwd=REPO, check=True, capture_output=True)
    out = tmp_path / "out"
    done = subprocess.run(["bash", "scripts/gpu/gpu_check.sh", "--device", "cpu",
                           "--data", str(prepared / "data" / "glue"),
                           "--tokenizer", str(prepared / "tokenizer")],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "OUT": str(out), "PYTHON": sys.executable})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((out / "gpu_check.json").read_text())
    for step in ("merge", "eval", "trial", "tests"):
        assert "error" not in results[step], results[step].get("error")
        assert results[step]["rows"], step
    merge = results["merge"]["rows"]
    assert {(r["pool_dtype"], r["method"], r["granularity"]) for r in merge} == {
        (dtype, method, level) for dtype in ("float32", "bfloat16")
        for method in ("weights", "fisher") for level in ("model", "block")}
    # a bf16 pool moves fewer bytes than a float32 one for the same weights merge
    moved = {r["pool_dtype"]: r["gb_moved"] for r in merge if r["method"] == "weights"}
    assert moved["bfloat16"] < moved["float32"]
    assert {r["mode"] for r in results["trial"]["rows"]} == {
        "q1-in-turn", "q4-pipelined", "q8-pipelined", "q16-pipelined", "q4-process"}
    assert all(0 < r["evaluator_busy"] <= 1 and r["hypervolume"] >= 0
               for r in results["trial"]["rows"])
    assert all(r["trials"] == 3 for r in results["trial"]["rows"])
    tests = results["tests"]["rows"][0]
    assert tests["tests"] >= 5 and tests["failures"] == tests["errors"] == 0
    assert "seconds per step" in done.stdout and "pytest -m cuda" in done.stdout
