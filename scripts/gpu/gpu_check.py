"""Every GPU figure in one command: merge, evaluation and trial throughput, and the CUDA tests.

Run through ``scripts/gpu/gpu_check.sh`` (which installs the carried wheels on a bare machine);
each step is timed and recorded on its own, so a step that fails leaves the others' figures:

* ``merge``: BERT-base and BERT-large shapes (random weights: the arithmetic does not depend
  on the values), K = 3, 5, 10, ``weights`` and ``fisher``, model-level and block-wise (the
  embeddings, 4 blocks of layers, the head), float32 and bfloat16 pools (``merge.pool_dtype``):
  combine time against a device copy of the same bytes (target ≤ 1.3);
* ``eval``: sentences/s of BERT-base and MiniLM shapes on real SST-2 and MRPC rows, float32
  against bf16 autocast, sorted batching against padding to the maximum length, and the
  largest batch of maximum-length rows that fits;
* ``tests``: ``pytest -m cuda tests/test_cuda.py``;
* ``trial``: a random-weight pool of 5, a study of 40 trials with q = 1 in turn, q = 4, 8
  and 16 pipelined (``bench_pipeline.MODES``) and q = 4 pipelined with ``executor:
  process``: seconds per trial in generation, merge, evaluation and bookkeeping, the
  evaluator's busy share, trials per minute, and the hypervolume of each run's (−loss,
  metric) points (reference: the worst loss and metric of all the runs).

``--device cpu`` runs the same steps at small sizes (the test suite does, so the first GPU
it meets runs it unchanged). Prints one table; writes ``gpu_check.json`` under ``--out``
(default ``$OUT``) after every step.

    scripts/gpu/gpu_check.sh [--device cuda|cpu] [--steps merge eval trial tests]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
PREPARED = REPO / "gpu-check"
# the steps import the benchmarks' own code (bench_merge, bench_eval, bench_trial, ...)
sys.path.insert(0, str(REPO / "scripts" / "bench"))
# the trial step last: the longest, and the one a time limit would cut short
STEPS = ("merge", "eval", "tests", "trial")

#: BertConfig fields of the shapes measured (vocabulary: BERT's uncased WordPiece)
SHAPES = {
    "bert-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                  "intermediate_size": 3072},
    "bert-large": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                   "intermediate_size": 4096},
    "minilm": {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
               "intermediate_size": 1536},
    "tiny": {"hidden_size": 16, "num_hidden_layers": 4, "num_attention_heads": 2,
             "intermediate_size": 32},
}


@dataclass(frozen=True)
class Sizes:
    merge_shapes: tuple[str, ...]
    ks: tuple[int, ...]
    eval_shapes: tuple[str, ...]
    rows: int  # dev rows per task
    batch_cap: int  # the largest batch tried
    trial_shape: str
    trials: int
    initial_trials: int
    repeats: int


ON_GPU = Sizes(("bert-base", "bert-large"), (3, 5, 10), ("bert-base", "minilm"), 400, 16384,
               "bert-base", 40, 5, 5)
DRY_RUN = Sizes(("tiny",), (3,), ("tiny",), 24, 16, "tiny", 3, 2, 1)


def bert_config(shape: str, vocab_size: int):
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, num_labels=2, **SHAPES[shape])


def group_sizes(shape: str, vocab_size: int) -> tuple[int, list[int]]:
    """(number of values, values per layer) of a classifier of ``shape`` and the values
    of its embeddings and of the rest (pooler, head): ``[embeddings, layer 0, …, rest]``."""
    from transformers import BertForSequenceClassification

    with torch.device("meta"):
        model = BertForSequenceClassification(bert_config(shape, vocab_size))
    layers = SHAPES[shape]["num_hidden_layers"]
    sizes = [0] * (layers + 2)
    for name, parameter in model.named_parameters():
        if ".embeddings." in name:
            sizes[0] += parameter.numel()
        elif ".encoder.layer." in name:
            sizes[1 + int(name.split(".encoder.layer.")[1].split(".")[0])] += parameter.numel()
        else:
            sizes[-1] += parameter.numel()
    return sum(sizes), sizes


# ---- merge -------------------------------------------------------------------------------
def measure_merge(device: torch.device, sizes: Sizes, vocab_size: int, record: Callable) -> None:
    from bench_merge import block_groups, random_pool
    from benchtools import copy_seconds, median_seconds

    from bomerge.merge.fisher import FisherMerge
    from bomerge.merge.weights import WeightedAverage

    for shape in sizes.merge_shapes:
        values, layout = group_sizes(shape, vocab_size)
        groups = block_groups(layout, min(4, len(layout) - 2))
        for pool_dtype in (torch.float32, torch.bfloat16):
            for k in sizes.ks:
                pool = random_pool(k, values, device, pool_dtype)
                out = pool.empty_merge_buffer()
                rng = np.random.default_rng(k)
                weights = rng.dirichlet(np.ones(k))
                fisher = FisherMerge()
                fisher_state = fisher.state_from_fisher(pool,
                                                        torch.rand((k, values), device=device))
                methods = [  # (name, method, state, coefficients, the tensors a combine reads)
                    ("weights", WeightedAverage(), pool, {"w": weights}, [pool.stacked]),
                    ("fisher", fisher, fisher_state, {"lambda": weights},
                     [fisher_state.weighted, fisher_state.fisher]),
                ]
                for label, method, state, coefficients, read in methods:
                    moved = (sum(t.numel() * t.element_size() for t in read)
                             + out.numel() * out.element_size())
                    copy_s = copy_seconds(moved // 8, device, sizes.repeats)
                    name = next(iter(coefficients))
                    per_group = [{name: rng.dirichlet(np.ones(k))} for _ in groups.names]
                    # median_seconds runs each closure now, in this iteration (B023), and
                    # the del of its names comes after the loop (F821).
                    for granularity, run in (
                        ("model", lambda: method.combine(state, coefficients, out)),  # noqa: B023, F821
                        ("block", lambda: method.combine_groups(state, per_group, groups, out)),  # noqa: B023, F821
                    ):
                        seconds = median_seconds(run, device, sizes.repeats)
                        record({"shape": shape,
                                "pool_dtype": str(pool_dtype).removeprefix("torch."),
                                "k": k, "method": label, "granularity": granularity,
                                "gb_moved": moved / 1e9, "combine_ms": seconds * 1e3,
                                "copy_ms": copy_s * 1e3, "ratio": seconds / copy_s,
                                "gb_per_s": moved / 1e9 / seconds})
                del pool, out, fisher_state, methods, state, read
                if device.type == "cuda":
                    torch.cuda.empty_cache()


# ---- evaluation --------------------------------------------------------------------------
def largest_batch(model, shape_config, device: torch.device, precision: str, cap: int,
                  length: int = 128) -> tuple[int, bool]:
    """The largest power-of-two batch of ``length``-token rows whose forward pass fits
    (and whether the search stopped at ``cap`` rather than at out-of-memory)."""
    fits, batch = 0, 8
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    while batch <= cap:
        ids = torch.randint(1000, shape_config.vocab_size, (batch, length), device=device)
        try:
            with torch.inference_mode(), torch.autocast(device.type, dtype=dtype,
                                                        enabled=precision == "bf16"):
                model(input_ids=ids, attention_mask=torch.ones_like(ids))
        except torch.OutOfMemoryError:
            del ids
            if device.type == "cuda":
                torch.cuda.empty_cache()
            return fits, False
        fits, batch = batch, batch * 2
        del ids
    return fits, True


def measure_eval(device: torch.device, sizes: Sizes, data: Path, tokenizer_folder: Path,
                 record: Callable) -> None:
    from bench_eval import padded_to_max, sentences_per_second
    from transformers import BertForSequenceClassification

    from bomerge.config import DataConfig
    from bomerge.evaluate import Evaluator
    from bomerge.models import load_tokenizer
    from bomerge.tasks import get_task

    tokenizer = load_tokenizer(tokenizer_folder)
    for shape in sizes.eval_shapes:
        config = bert_config(shape, tokenizer.vocab_size)
        torch.manual_seed(0)
        model = BertForSequenceClassification(config).to(device).eval()
        params = dict(model.named_parameters())
        for task_name in ("sst2", "mrpc"):
            task = get_task(task_name)
            rows = task.load_split(DataConfig(root=data, hub=False), "dev")[: sizes.rows]
            sorted_batches = task.batches(rows, tokenizer, 128, 64, device)
            padded = padded_to_max(rows, tokenizer, task, 128, 64, device)
            for batching, batches in (("sorted", sorted_batches), ("pad-to-max", padded)):
                for precision in ("fp32", "bf16"):
                    rate, _ = sentences_per_second(Evaluator(model, batches, task, precision),
                                                   params, device, sizes.repeats)
                    record({"shape": shape, "task": task_name, "rows": len(rows),
                            "batching": batching, "precision": precision, "sent_per_s": rate})
        for precision in ("fp32", "bf16"):
            batch, capped = largest_batch(model, config, device, precision, sizes.batch_cap)
            record({"shape": shape, "precision": precision, "largest_batch": batch,
                    "capped": capped, "length": 128})
        del model, params
        if device.type == "cuda":
            torch.cuda.empty_cache()


# ---- trials ------------------------------------------------------------------------------
def random_candidates(folder: Path, shape: str, tokenizer_folder: Path, sentences: list[str],
                      k: int = 5) -> str:
    """``k`` random-weight classifiers of ``shape`` saved as model folders; their glob.

    A random BERT's pooled outputs share one large component, so its head would give every
    row the same class and every merge the same score (a flat objective makes the GP's fits
    slow and the figures unlike a real study's); the head's bias is set to centre the
    logits on ``sentences``, so rows split between the classes and merges differ."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder))
    encoded = tokenizer(sentences, padding=True, truncation=True, max_length=128,
                        return_tensors="pt")
    for i in range(k):
        torch.manual_seed(i)
        model = BertForSequenceClassification(bert_config(shape, tokenizer.vocab_size)).eval()
        with torch.no_grad():
            pooled = model.bert(**encoded).pooler_output.mean(0)
            model.classifier.bias.copy_(-model.classifier.weight @ pooled)
        model.save_pretrained(folder / f"candidate-{i}")
        tokenizer.save_pretrained(folder / f"candidate-{i}")
    return str(folder / "candidate-*")


def measure_trials(device: torch.device, sizes: Sizes, data: Path, tokenizer_folder: Path,
                   record: Callable) -> None:
    from bench_pipeline import MODES, hypervolume
    from bench_trial import run_study, summarise

    from bomerge.config import DataConfig
    from bomerge.tasks import get_task

    rows = get_task("sst2").load_split(DataConfig(root=data, hub=False), "dev")[:64]
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        raw = {
            "seed": 0, "device": device.type,
            "task": {"name": "sst2", "max_length": 128, "data": {"root": str(data), "hub": False},
                     "eval": {"max_selection_examples": sizes.rows // 2,
                              "max_report_examples": sizes.rows // 2}},
            "candidates": {"glob": [random_candidates(root / "candidates", sizes.trial_shape,
                                                      tokenizer_folder, [r.text_a for r in rows])]},
            "merge": {"method": "weights"},
            "search": {"initial_trials": sizes.initial_trials, "baselines": False},
        }
        runs = {mode: run_study(raw, root / "config.yaml", root / "studies", mode, overlap,
                                sizes.trials, q)
                for mode, (q, overlap) in MODES.items()}
        # the q = 4 pipeline with the evaluations in a process of their own (`executor:
        # process`): whether the GP's Python work held the device up in the thread
        runs["q4-process"] = run_study(raw | {"executor": "process"}, root / "config.yaml",
                                       root / "studies", "q4-process", True, sizes.trials, 4)
        scored = [x for lines in runs.values() for x in lines if x["loss"] is not None]
        reference = (-max(x["loss"] for x in scored), min(x["metric"] for x in scored))
        for mode, lines in runs.items():
            summary = summarise(mode, lines)
            points = [(x["loss"], x["metric"]) for x in lines if x["loss"] is not None]
            record({"shape": sizes.trial_shape, "candidates": 5, "mode": mode,
                    "trials": summary["trials"], "s_per_trial": summary["trial_s"],
                    "generate_s": summary["gen_s"], "merge_s": summary["merge_s"],
                    "evaluate_s": summary["eval_s"], "bookkeeping_s": summary["book_s"],
                    "evaluator_idle": summary["idle"], "evaluator_busy": 1 - summary["idle"],
                    "trials_per_min": 60 / summary["trial_s"],
                    "hypervolume": hypervolume(points, reference)})


# ---- CUDA tests --------------------------------------------------------------------------
def run_cuda_tests(record: Callable) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "junit.xml"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-m", "cuda", "tests/test_cuda.py", f"--junitxml={report}"],
                              cwd=REPO, capture_output=True, text=True, timeout=300)
        suite = ElementTree.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
        failed = [case.get("name") for case in suite.iter("testcase")
                  if case.find("failure") is not None or case.find("error") is not None]
        record({**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"]
                - counts["skipped"], "failed_tests": failed,
                "seconds": time.perf_counter() - started, "exit_code": done.returncode,
                "output_tail": done.stdout[-2000:] + done.stderr[-1000:]})
        if done.returncode not in (0, 5):  # 5: nothing collected
            raise RuntimeError(f"pytest -m cuda exited {done.returncode}: failed {failed}\n"
                               + done.stdout[-2000:])


# ---- the table ---------------------------------------------------------------------------
def table_lines(results: dict) -> list[str]:
    lines = [f"{'step':<6} {'what':<52} {'figure':>26}"]
    for row in results["merge"]["rows"]:
        lines.append(f"{'merge':<6} {row['shape']:<10} {row['pool_dtype']:<8} K={row['k']:<3} "
                     f"{row['method']:<7} {row['granularity']:<6} {row['gb_moved']:6.2f} GB "
                     f"{row['combine_ms']:9.2f} ms  copy ×{row['ratio']:.2f}")
    for row in results["eval"]["rows"]:
        if "largest_batch" in row:
            bound = "≥" if row["capped"] else ""
            lines.append(f"{'eval':<6} {row['shape']:<10} largest batch, {row['length']} tokens, "
                         f"{row['precision']:<5} {bound + str(row['largest_batch']):>22}")
        else:
            lines.append(f"{'eval':<6} {row['shape']:<10} {row['task']:<5} {row['batching']:<10} "
                         f"{row['precision']:<5} {row['rows']:>4} rows "
                         f"{row['sent_per_s']:>13.0f} sent/s")
    for row in results["trial"]["rows"]:
        lines.append(f"{'trial':<6} {row['shape']:<10} {row['mode']:<12} {row['trials']} trials: "
                     f"gen {row['generate_s']:.2f} merge {row['merge_s']:.3f} eval "
                     f"{row['evaluate_s']:.3f} book {row['bookkeeping_s']:.3f} s "
                     f"{row['trials_per_min']:6.1f} trials/min busy "
                     f"{row.get('evaluator_busy', 1 - row['evaluator_idle']):.0%} "
                     f"HV {row.get('hypervolume', float('nan')):.4f}")
    for row in results["tests"]["rows"]:
        lines.append(f"{'tests':<6} pytest -m cuda: {row['passed']} passed, {row['failures']} "
                     f"failed, {row['errors']} errors, {row['skipped']} skipped "
                     f"{'':>4}{row['seconds']:8.1f} s")
    for step in STEPS:
        if results[step].get("error"):
            lines.append(f"{step:<6} ERROR {results[step]['error'].splitlines()[-1][:100]}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--data", type=Path, default=PREPARED / "data" / "glue")
    parser.add_argument("--tokenizer", type=Path, default=PREPARED / "tokenizer")
    parser.add_argument("--out", type=Path,
                        default=Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    args = parser.parse_args()
    device = torch.device(args.device)
    sizes = ON_GPU if device.type == "cuda" else DRY_RUN
    for needed in (args.data / "SST-2" / "dev.tsv", args.tokenizer / "vocab.txt"):
        if not needed.is_file():
            sys.exit(f"gpu_check: {needed} not found: "
                     "run `scripts/gpu/gpu_check.sh --prepare` first")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    results: dict = {"device": name, "torch": torch.__version__,
                     "python": platform.python_version(),
                     "sizes": asdict(sizes), **{step: {"rows": []} for step in STEPS}}
    print(f"gpu_check on {name}: torch {torch.__version__}, steps {' '.join(args.steps)}",
          flush=True)
    from transformers import AutoTokenizer

    vocab_size = AutoTokenizer.from_pretrained(str(args.tokenizer)).vocab_size
    runs = {
        "merge": lambda record: measure_merge(device, sizes, vocab_size, record),
        "eval": lambda record: measure_eval(device, sizes, args.data, args.tokenizer, record),
        "trial": lambda record: measure_trials(device, sizes, args.data, args.tokenizer, record),
        "tests": run_cuda_tests,
    }
    for step in args.steps:
        started = time.perf_counter()

        def record(row: dict, step: str = step) -> None:
            results[step]["rows"].append(row)
            print(f"  {step}: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                            for k, v in row.items() if k != "output_tail"),
                  flush=True)

        try:
            runs[step](record)
        except Exception:  # noqa: BLE001 - one step's failure must not lose the others' figures
            results[step]["error"] = traceback.format_exc()
            print(results[step]["error"], file=sys.stderr, flush=True)
        results[step]["seconds"] = time.perf_counter() - started
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1))
    print("\n" + "\n".join(table_lines(results)))
    print("\nseconds per step: " + ", ".join(f"{s} {results[s].get('seconds', 0):.0f}"
                                             for s in args.steps))
    sys.exit(1 if any(results[s].get("error") for s in args.steps) else 0)


if __name__ == "__main__":
    main()
