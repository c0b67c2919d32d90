"""The model a cross-task merge makes: one encoder and every task's own head.

Candidates fine-tuned on different tasks from one pretrained model are
``*ForSequenceClassification`` models of one architecture whose heads differ (two classes
for SST-2, one output for STS-B). The merged model keeps one copy of the encoder, under the
architecture's own prefix (``bert.`` for BERT), so its tensor names are the candidates'
names and the pool's; each task's head modules sit under ``heads.<task>.`` (``heads.sst2.
classifier.weight``). A forward pass names its task and runs that task's model, whose
encoder *is* the shared one: ``torch.func.functional_call`` on the merged model swaps the
tensors of the very modules the task's model runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from bomerge.errors import BomergeError
from bomerge.models import quiet_transformers

if TYPE_CHECKING:
    from transformers import PreTrainedModel

HEADS = "heads"


def encoder_prefix(folder: Path) -> str:
    """The attribute a classification model of ``folder``'s architecture keeps its encoder
    under (``bert``, ``roberta``, ``distilbert``), from ``config.json`` alone."""
    quiet_transformers()
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(str(folder))
    except Exception as error:  # noqa: BLE001 - report any loader failure with the path
        raise BomergeError(f"{folder}: cannot read the model config: {error}") from None
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(config)
    return model.base_model_prefix


def head_name(task: str, name: str) -> str:
    """Where a task model's head tensor ``name`` lives in the merged model."""
    return f"{HEADS}.{task}.{name}"


class CrossTaskModel(nn.Module):
    """One encoder shared by one classification model per task.

    ``forward(task, **inputs)`` returns what that task's model returns (``.logits``:
    ``(B, C_task)``). Parameters: the encoder's under its prefix, each task's head under
    ``heads.<task>.``; the task models themselves are not registered (their encoder would
    be registered once per task).
    """

    def __init__(self, members: Mapping[str, PreTrainedModel]) -> None:
        super().__init__()
        first = next(iter(members.values()))
        self.prefix = first.base_model_prefix
        encoder = getattr(first, self.prefix)
        self.add_module(self.prefix, encoder)
        self.heads = nn.ModuleDict()
        for task, member in members.items():
            setattr(member, self.prefix, encoder)
            head = nn.Module()
            for name, child in member.named_children():
                if name != self.prefix:
                    head.add_module(name, child)
            self.heads[task] = head
        self._members = dict(members)

    def member(self, task: str) -> PreTrainedModel:
        return self._members[task]

    def get_input_embeddings(self) -> nn.Module:
        return getattr(self, self.prefix).get_input_embeddings()

    def train(self, mode: bool = True) -> CrossTaskModel:
        super().train(mode)
        for member in self._members.values():
            member.training = mode
        return self

    def forward(self, task: str, **inputs: Any) -> Any:
        return self._members[task](**inputs)


def cross_task_model(folders: Mapping[str, Path], attention: str | None = None) -> CrossTaskModel:
    """The merged model's architecture from one candidate folder per task (throw-away
    weights: merged tensors are swapped in), in eval mode."""
    quiet_transformers()
    from transformers import AutoConfig, AutoModelForSequenceClassification

    members = {}
    for task, folder in folders.items():
        config = AutoConfig.from_pretrained(str(folder))
        extra = {"attn_implementation": attention} if attention else {}
        members[task] = AutoModelForSequenceClassification.from_config(config, **extra)
    return CrossTaskModel(members).eval()
