"""On a CUDA device, bomerge merges and scores as it does on the CPU: a one-hot merge is the
candidate itself, CPU and CUDA merges agree to float32 rounding, bf16 autocast stays within
its documented tolerance of float32, a study resumes after an interrupt, and a trial that
runs out of GPU memory is FAILED with its reason while the study goes on.

Marked ``cuda`` and skipped without a GPU (``scripts/gpu/gpu_check.sh`` runs them on one:
``pytest -m cuda tests/test_cuda.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bomerge.config import DataConfig
from bomerge.evaluate import Evaluator
from bomerge.merge import get_method
from bomerge.merge.base import PrepareContext
from bomerge.models import classifier_skeleton, load_classifier, load_tokenizer
from bomerge.pool import CandidatePool
from bomerge.search.records import load_records
from bomerge.search.runner import StudyRunner
from bomerge.tasks import get_task
from tests.conftest import candidates_study

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

#: bf16 autocast against float32 on the same rows (README "Throughput on a GPU"): the mean
#: loss within 2% (relative), the metric within 2 points
BF16_LOSS_RTOL, BF16_METRIC_ATOL = 0.02, 0.02


@pytest.fixture(scope="module")
def on_cuda(tiny_candidates, glue_root):
    task = get_task("sst2")
    rows = task.load_split(DataConfig(root=glue_root, hub=False), "dev")
    batches = task.batches(rows, load_tokenizer(tiny_candidates[0]), 24, 16, "cuda")
    model = classifier_skeleton(tiny_candidates[0]).to("cuda")
    return task, batches, model


def test_a_one_hot_merge_on_cuda_scores_exactly_like_the_candidate_alone(on_cuda, tiny_candidates):
    """The merged values are the candidate's bit for bit; the scores equal its own up to
    the last bits of the loss (cuBLAS may pick another kernel for a view into the flat
    merge buffer than for a freshly allocated tensor: pointer alignment is one of its
    inputs), and the metric exactly."""
    task, batches, model = on_cuda
    evaluator = Evaluator(model, batches, task, "fp32")
    pool = CandidatePool.load(tiny_candidates, "cuda")
    method, buffer = get_method("weights"), pool.empty_merge_buffer()
    for i, path in enumerate(tiny_candidates):
        merged_values = pool.unflatten(method.combine(pool, {"w": np.eye(3)[i]}, buffer))
        alone = load_classifier(path, task.num_labels).to("cuda")
        own_values = dict(alone.named_parameters())
        assert all(torch.equal(merged_values[name], own_values[name]) for name in own_values)
        merged, own = evaluator.evaluate(merged_values), evaluator.evaluate(own_values)
        assert merged.metric == own.metric
        assert merged.loss == pytest.approx(own.loss, rel=1e-6)


@pytest.mark.parametrize("method_name", ["weights", "task_arithmetic", "ties"])
def test_cpu_and_cuda_merges_agree_to_float32_rounding(tiny_candidates, method_name):
    method = get_method(method_name)
    merged = []
    for device in ("cpu", "cuda"):
        pool = CandidatePool.load(tiny_candidates, device)
        base, known = pool.load_base(tiny_candidates[0].parent / "base")
        state = method.prepare(PrepareContext(pool=pool, base=base, base_known=known))
        values = method.defaults(pool.k)
        merged.append(method.combine(state, values, pool.empty_merge_buffer()).cpu())
    torch.testing.assert_close(merged[1], merged[0], rtol=1e-5, atol=1e-6)


def test_bf16_autocast_scores_within_the_documented_tolerance_of_float32(on_cuda, tiny_candidates):
    task, batches, model = on_cuda
    params = dict(
        load_classifier(tiny_candidates[-1], task.num_labels).to("cuda").named_parameters())
    fp32 = Evaluator(model, batches, task, "fp32").evaluate(params)
    bf16 = Evaluator(model, batches, task, "bf16").evaluate(params)
    assert bf16.loss == pytest.approx(fp32.loss, rel=BF16_LOSS_RTOL)
    assert abs(bf16.metric - fp32.metric) <= BF16_METRIC_ATOL


def cuda_study(glue_root, tiny_candidates, studies, name, **search) -> StudyRunner:
    return candidates_study(glue_root, tiny_candidates, studies, name,
                            extra={"device": "cuda"}, **search)


def test_a_study_on_cuda_is_interrupted_and_resumes_where_it_stopped(glue_root, tiny_candidates,
                                                                    tmp_path, monkeypatch):
    runner = cuda_study(glue_root, tiny_candidates, tmp_path, "resumed", trials=4,
                        initial_trials=2, baselines=False)
    original = StudyRunner._record_trials
    recorded = {"n": 0}

    def interrupt_the_third(self, finished, progress):
        recorded["n"] += 1
        if recorded["n"] == 3:
            raise KeyboardInterrupt
        return original(self, finished, progress)

    monkeypatch.setattr(StudyRunner, "_record_trials", interrupt_the_third)
    with pytest.raises(KeyboardInterrupt):
        runner.run()
    monkeypatch.setattr(StudyRunner, "_record_trials", original)
    assert runner.bench.pool.device.type == "cuda"
    resumed = StudyRunner(runner.store, runner.store.read_config(), show_progress=False)
    resumed.run()
    records = load_records(resumed.store)
    assert [r.index for r in records] == [0, 1, 2, 3]
    assert all(r.status == "COMPLETED" for r in records)
    logged = [line["trial"] for line in resumed.store.read_log()]
    assert logged == [0, 1, 2, 3]  # the interrupted trial was re-run once, nothing twice


def test_a_trial_out_of_gpu_memory_is_failed_with_its_reason_and_the_study_goes_on(
        glue_root, tiny_candidates, tmp_path):
    """The process may use a small fraction of the GPU; trial 1 asks for more than that
    (as a pool or an activation too big for it would) and gets CUDA's own OutOfMemoryError."""
    runner = cuda_study(glue_root, tiny_candidates, tmp_path, "oom", trials=4, initial_trials=2,
                        baselines=False)
    runner.open()
    total = torch.cuda.get_device_properties(0).total_memory
    fraction = 0.02
    evaluator, real, calls = runner.bench.selection, runner.bench.selection.evaluate, []

    def evaluate(params, *rest):
        calls.append(len(calls))
        if len(calls) == 2:
            torch.empty(int(total * fraction * 2), dtype=torch.uint8, device="cuda")
        return real(params, *rest)

    evaluator.evaluate = evaluate  # type: ignore[method-assign]
    runner.open = lambda: None  # keep the wrapped evaluator  # type: ignore[method-assign]
    runner.client = runner._client(runner.store.connect())
    torch.cuda.set_per_process_memory_fraction(fraction)
    try:
        runner.run()
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    records = {r.index: r for r in load_records(runner.store)}
    assert [records[i].status for i in range(4)] == ["COMPLETED", "FAILED", "COMPLETED",
                                                     "COMPLETED"]
    log = {line["trial"]: line for line in runner.store.read_log()}
    assert "OutOfMemoryError" in log[1]["reason"] and "out of memory" in log[1]["reason"]
