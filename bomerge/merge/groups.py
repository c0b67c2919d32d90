"""Parameter groups of block-wise merging: the embeddings, contiguous blocks of encoder
layers, and the head(s).

Per-layer coefficients are where layer-wise mergers find their gains (Akiba et al. 2024,
evolutionary merging per layer; Yang et al. 2024, AdaMerging, layer-wise beating task-wise
coefficients): the parameters are partitioned into G groups and each group gets its own
coefficients. Groups follow the model's module structure, not its parameter names: the
encoder's layers are the longest ``nn.ModuleList`` of one module class (``bert.encoder.layer``,
``roberta.encoder.layer``, ``distilbert.transformer.layer``, a several-head model's
``bert.encoder.layer``); parameters registered before it are the embeddings group and
parameters after it (pooler, classifier, task heads) the head group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bomerge.errors import BomergeError
from bomerge.pool import CandidatePool

EMBEDDINGS = "embeddings"
HEAD = "head"
# The granularity that keeps one set of coefficients for the whole model.
MODEL = "model"
LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layers", "num_layers")


def group_names(granularity: str, blocks: int | None, layers: int) -> tuple[str, ...]:
    """The groups of a granularity: ``model`` → one group; ``block`` → embeddings, ``blocks``
    blocks, head; ``layer`` → embeddings, one group per encoder layer, head.

    Raises:
        BomergeError: ``blocks`` missing, below 1 or above the number of ``layers``.
    """
    if granularity == MODEL:
        return (MODEL,)
    if granularity == "layer":
        return (EMBEDDINGS, *(f"layer{i}" for i in range(layers)), HEAD)
    if blocks is None:
        raise BomergeError("merge.granularity 'block' needs merge.blocks (the number of "
                           "contiguous blocks the encoder layers are cut into)")
    if not 1 <= blocks <= layers:
        raise BomergeError(f"merge.blocks: {blocks} blocks for an encoder of {layers} layers "
                           f"(use 1 to {layers})")
    return (EMBEDDINGS, *(f"block{b}" for b in range(blocks)), HEAD)


def block_of_layer(layer: int, layers: int, blocks: int) -> int:
    """The block of encoder layer ``layer`` when ``layers`` are cut into ``blocks``
    contiguous blocks whose sizes differ by at most one (earlier blocks the larger)."""
    size, extra = divmod(layers, blocks)
    boundary = extra * (size + 1)
    return layer // (size + 1) if layer < boundary else extra + (layer - boundary) // size


def encoder_layer_count(folder: Path) -> int:
    """The number of encoder layers a model folder's ``config.json`` declares."""
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise BomergeError(f"{config_file}: cannot read the model config ({error})") from None
    for key in LAYER_COUNT_KEYS:
        if isinstance(config.get(key), int):
            return config[key]
    raise BomergeError(f"{config_file}: no layer count ({' / '.join(LAYER_COUNT_KEYS)}); "
                       "block-wise merging needs one")


def encoder_layers(model: nn.Module) -> tuple[str, int]:
    """The module path of the encoder's layer list (the longest ``nn.ModuleList`` whose
    modules share one class) and its length."""
    best: tuple[str, int] | None = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            if len({type(child) for child in module}) == 1:
                if best is None or len(module) > best[1]:
                    best = (name, len(module))
    if best is None:
        raise BomergeError(f"{type(model).__name__}: no list of encoder layers found; "
                           "block-wise merging needs one")
    return best


@dataclass(frozen=True)
class ParameterGroups:
    """The groups of a pool's flat ``(P,)`` layout.

    Attributes:
        names: the group names, in order.
        ranges: per group, the contiguous runs of the flat layout it covers (slices).
        members: parameter name → index of its group.
    """

    names: tuple[str, ...]
    ranges: tuple[tuple[slice, ...], ...]
    members: dict[str, int]

    def group_of(self, parameter: str) -> int:
        return self.members[parameter]


def parameter_groups(model: nn.Module, pool: CandidatePool,
                     names: tuple[str, ...]) -> ParameterGroups:
    """Assign every tensor of ``pool`` to one of ``names`` (from ``group_names``) by where its
    module sits in ``model``: before the encoder layers, in layer i (its block), or after."""
    if names == (MODEL,):
        return ParameterGroups(names, ((slice(0, pool.num_values),),),
                               {slot.name: 0 for slot in pool.slots})
    path, layers = encoder_layers(model)
    order = {name: i for i, (name, _) in enumerate(model.named_parameters())}
    inside = [i for name, i in order.items() if name.startswith(f"{path}.")]
    first, last = min(inside), max(inside)
    blocks = len(names) - 2
    members: dict[str, int] = {}
    for slot in pool.slots:
        if slot.name.startswith(f"{path}."):
            layer = int(slot.name[len(path) + 1 :].split(".", 1)[0])
            members[slot.name] = 1 + block_of_layer(layer, layers, blocks)
        elif order.get(slot.name, last + 1) < first:
            members[slot.name] = 0
        else:
            members[slot.name] = len(names) - 1
    ranges: list[list[slice]] = [[] for _ in names]
    for slot in sorted(pool.slots, key=lambda s: s.offset):
        runs = ranges[members[slot.name]]
        end = slot.offset + slot.numel
        if runs and runs[-1].stop == slot.offset:
            runs[-1] = slice(runs[-1].start, end)
        else:
            runs.append(slice(slot.offset, end))
    return ParameterGroups(names, tuple(tuple(r) for r in ranges), members)
