"""bomerge.merge.statistics.fisher_diagonal through the cs224n task's fisher_view
(bomerge.tasks.cs224n.task): the diagonal Fisher of a multitask model equals the mean of
squared per-example log-likelihood gradients, each row through its own head (categorical
SST, Bernoulli Quora, Gaussian STS)."""

from __future__ import annotations

import torch

from bomerge.config import DataConfig
from bomerge.merge.statistics import StatisticsSource, fisher_diagonal
from bomerge.models import load_tokenizer
from bomerge.tasks.cs224n import CS224N
from bomerge.tasks.cs224n.model import MultitaskBert, task_loss


def test_empirical_fisher_equals_brute_force_per_example_gradients(
    cs224n_root, tiny_multitask_candidates
):
    path = tiny_multitask_candidates[-1]
    model = MultitaskBert.from_pretrained(path).eval()
    rows = CS224N.rows_by_head(CS224N.load_split(DataConfig(root=cs224n_root, hub=False), "train"))
    rows = [ex for name in ("sst", "quora", "sts") for ex in rows[name][:3]]
    batches = CS224N.batches(rows, load_tokenizer(path), 16, 2, "cpu")
    source = StatisticsSource(CS224N.skeleton(path, attention="eager"), batches, CS224N, "test")
    params = dict(model.named_parameters())
    fisher = fisher_diagonal(source, params, "empirical", sigma=1.0)

    brute = {name: torch.zeros_like(p) for name, p in params.items()}
    for batch in batches:
        for i in range(len(batch.labels)):
            inputs = {k: v[i : i + 1] if isinstance(v, torch.Tensor) else v
                      for k, v in batch.model_inputs().items()}
            out, y = model(**inputs), batch.labels[i : i + 1]
            # log p(y|x): −CE, −BCE, or the Gaussian −(y − μ)²/2σ² (σ = 1)
            loglik = (-((y - out) ** 2).sum() / 2 if batch.head == "sts"
                      else -task_loss(batch.head, out, y, reduction="sum"))
            grads = torch.autograd.grad(loglik, list(params.values()), allow_unused=True)
            for name, g in zip(params, grads, strict=False):
                if g is not None:
                    brute[name] += g.square()
    for name in params:
        expected = brute[name] / len(rows)
        assert torch.allclose(fisher[name], expected, rtol=1e-3,
                              atol=1e-9 + 1e-4 * float(expected.abs().max())), name
    assert float(fisher["sentiment.weight"].abs().sum()) > 0
    assert float(fisher["paraphrase.3.weight"].abs().sum()) > 0
