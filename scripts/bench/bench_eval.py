"""Evaluation throughput: the project's batching against padding every row to max length.

The evaluator tokenizes the dev rows once, sorts them by length and pads each batch only to
its own longest row, with everything resident on the device and the forward pass under
``inference_mode`` (and bf16 autocast on CUDA). The naive way pads every row to
``max_length`` in file order. This script scores the packaged MiniLM (with a seeded
classification head) both ways on SST-2 and MRPC dev rows and prints sentences per second
and the ratio; on CUDA it adds the float32 switch.

    python scripts/bench/bench_eval.py [--data ../shared/data/glue] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from bomerge.config import DataConfig
from bomerge.evaluate import Evaluator
from bomerge.models import load_tokenizer, packaged_minilm_path
from bomerge.tasks import get_task
from bomerge.tasks.base import Batch

REPO = Path(__file__).resolve().parents[2]


def padded_to_max(rows: list, tokenizer: object, task: object, max_length: int, batch_size: int,
                  device: torch.device) -> list[Batch]:
    """Batches in file order, every row padded to ``max_length``."""
    encoded = task.encode(rows, tokenizer, max_length)
    batches = []
    for start in range(0, len(rows), batch_size):
        index = list(range(start, min(start + batch_size, len(rows))))
        ids = torch.full((len(index), max_length), encoded.pad_id, dtype=torch.long)
        types = torch.zeros_like(ids)
        mask = torch.zeros_like(ids)
        for r, i in enumerate(index):
            n = len(encoded.input_ids[i])
            ids[r, :n] = torch.tensor(encoded.input_ids[i])
            types[r, :n] = torch.tensor(encoded.token_type_ids[i])
            mask[r, :n] = 1
        labels = torch.tensor([encoded.labels[i] for i in index],
                              dtype=torch.float32 if encoded.regression else torch.long)
        batches.append(Batch(ids.to(device), types.to(device), mask.to(device),
                             labels.to(device), torch.tensor(index)))
    return batches


def sentences_per_second(evaluator: Evaluator, params: dict, device: torch.device,
                         repeats: int) -> tuple[float, float]:
    evaluator.evaluate(params)  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        result = evaluator.evaluate(params)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return evaluator.n / statistics.median(times), result.metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "glue")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tasks", nargs="+", default=["sst2", "mrpc"])
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    folder = packaged_minilm_path()
    tokenizer = load_tokenizer(folder)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; MiniLM-L6; max_length {args.max_length}; batch {args.batch_size}")
    print(f"{'task':>5} {'rows':>5} {'mean len':>8} {'batching':>22} {'sent/s':>8} {'metric':>7} {'ratio':>6}")
    for task_name in args.tasks:
        task = get_task(task_name)
        rows = task.load_split(DataConfig(root=args.data, hub=False), "dev")[: args.max_rows]
        torch.manual_seed(0)
        model = task.new_model(folder, None).to(device).eval()
        params = dict(model.named_parameters())
        lengths = [len(x) for x in task.encode(rows, tokenizer, args.max_length).input_ids]
        mean_length = sum(lengths) / len(lengths)
        variants = [
            ("pad to max, fp32", padded_to_max(rows, tokenizer, task, args.max_length,
                                               args.batch_size, device), "fp32"),
            ("sorted + own length", task.batches(rows, tokenizer, args.max_length,
                                                 args.batch_size, device), "fp32"),
        ]
        if device.type == "cuda":
            variants.append(("sorted + bf16 autocast", variants[1][1], "bf16"))
        baseline = None
        for label, batches, precision in variants:
            rate, metric = sentences_per_second(Evaluator(model, batches, task, precision),
                                                params, device, args.repeats)
            baseline = baseline or rate
            print(f"{task_name:>5} {len(rows):>5} {mean_length:8.1f} {label:>22} {rate:8.1f} "
                  f"{metric:7.4f} {rate / baseline:6.2f}")


if __name__ == "__main__":
    main()
