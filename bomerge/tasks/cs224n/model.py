"""The multitask BERT of the CS224N default final project ("minBERT", Stanford 2023).

One encoder, three heads on mean-pooled sentence embeddings u (and v for pairs):

* ``sst``: 5-class sentiment, ``Linear(h, 5)`` on dropout(u); cross-entropy.
* ``quora``: paraphrase, an MLP ``[u, v, |u − v|] → 256 → 1`` (ReLU) giving one logit;
  binary cross-entropy. The feature triple is Sentence-BERT's classification objective
  (Reimers & Gurevych 2019).
* ``sts``: similarity ``5 · clamp(cos(u, v), 0, 1)`` with no parameters of its own; MSE
  against the 0..5 gold score, Pearson correlation as the metric.

Pairs are encoded one sentence at a time (a bi-encoder), as in the CS224N report. The model
is a ``BertPreTrainedModel``, so ``from_pretrained`` on a bare ``BertModel`` folder (the
packaged MiniLM) loads the encoder under ``bert.`` and initialises the heads, and
``save_pretrained`` writes a normal Hugging Face folder whose ``config.json`` names the
architecture ``MultitaskBert``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel

from bomerge.models import quiet_transformers
from bomerge.tasks.cs224n.data import ARCHITECTURE

quiet_transformers()

TASKS = ("sst", "quora", "sts")
SST_CLASSES = 5
PARAPHRASE_HIDDEN = 256


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``(B, L, H)`` token states, ``(B, L)`` 0/1 mask → ``(B, H)`` mean over real tokens."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class MultitaskBert(BertPreTrainedModel):
    """Encoder ``bert`` and heads ``sentiment`` (SST), ``paraphrase`` (Quora); STS uses
    the cosine of the two sentence embeddings.

    ``forward(task, input_ids, attention_mask, ...)`` returns ``(B, 5)`` logits for
    ``sst``, ``(B,)`` logits for ``quora`` and ``(B,)`` scores in [0, 5] for ``sts``.
    ``encoder_mask`` / ``encoder_mask_b`` (additive ``(B, 1, 1, L)`` masks) and
    ``inputs_embeds`` / ``inputs_embeds_b`` let ``torch.func`` transforms run it without
    data-dependent mask preparation or embedding lookups.
    """

    base_model_prefix = "bert"

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        hidden = config.hidden_size
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.sentiment = nn.Linear(hidden, getattr(config, "sst_classes", SST_CLASSES))
        width = getattr(config, "paraphrase_hidden", PARAPHRASE_HIDDEN)
        self.paraphrase = nn.Sequential(
            nn.Linear(3 * hidden, width), nn.ReLU(), nn.Dropout(config.hidden_dropout_prob),
            nn.Linear(width, 1),
        )
        self.post_init()

    def embed(self, input_ids: torch.Tensor | None, attention_mask: torch.Tensor,
              token_type_ids: torch.Tensor | None = None,
              encoder_mask: torch.Tensor | None = None,
              inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, H)`` mean-pooled sentence embeddings."""
        states = self.bert(
            input_ids=None if inputs_embeds is not None else input_ids,
            inputs_embeds=inputs_embeds,
            attention_mask=encoder_mask if encoder_mask is not None else attention_mask,
            token_type_ids=token_type_ids,
        ).last_hidden_state
        return mean_pool(states, attention_mask)

    def forward(self, task: str, input_ids: torch.Tensor | None, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None,
                input_ids_b: torch.Tensor | None = None,
                attention_mask_b: torch.Tensor | None = None,
                token_type_ids_b: torch.Tensor | None = None,
                encoder_mask: torch.Tensor | None = None,
                encoder_mask_b: torch.Tensor | None = None,
                inputs_embeds: torch.Tensor | None = None,
                inputs_embeds_b: torch.Tensor | None = None) -> torch.Tensor:
        u = self.embed(input_ids, attention_mask, token_type_ids, encoder_mask, inputs_embeds)
        if task == "sst":
            return self.sentiment(self.dropout(u))
        if attention_mask_b is None:
            raise ValueError(f"task '{task}' takes sentence pairs")
        v = self.embed(input_ids_b, attention_mask_b, token_type_ids_b, encoder_mask_b,
                       inputs_embeds_b)
        if task == "quora":
            features = torch.cat([u, v, (u - v).abs()], dim=-1)
            return self.paraphrase(self.dropout(features)).squeeze(-1)
        if task == "sts":
            return 5.0 * torch.cosine_similarity(u, v, dim=-1).clamp(0.0, 1.0)
        raise ValueError(f"unknown task '{task}' (known: {', '.join(TASKS)})")


def task_loss(task: str, outputs: torch.Tensor, labels: torch.Tensor,
              reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy (SST), binary cross-entropy with logits (Quora), MSE (STS)."""
    if task == "sst":
        return nn.functional.cross_entropy(outputs.float(), labels.long(), reduction=reduction)
    if task == "quora":
        return nn.functional.binary_cross_entropy_with_logits(
            outputs.float(), labels.float(), reduction=reduction)
    return nn.functional.mse_loss(outputs.float(), labels.float(), reduction=reduction)


def predictions(task: str, outputs: torch.Tensor) -> torch.Tensor:
    """Class index (SST), 0/1 (Quora, logit > 0) or the score itself (STS)."""
    if task == "sst":
        return outputs.argmax(dim=-1)
    if task == "quora":
        return (outputs > 0).long()
    return outputs


def new_multitask_model(encoder_folder: str, dropout: float | None = None) -> MultitaskBert:
    """A multitask model from a pretrained encoder folder (heads freshly initialised from
    the current torch seed)."""
    overrides: dict[str, object] = {"architectures": [ARCHITECTURE]}
    if dropout is not None:
        overrides.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    config = BertConfig.from_pretrained(encoder_folder, **overrides)
    return MultitaskBert.from_pretrained(encoder_folder, config=config)
