"""The candidate pool: K checkpoints of one architecture, stacked once on the study device.

All floating-point tensors of the K state dicts are packed into one ``(K, P)`` matrix (P =
total number of floating-point values), so that any merge that is linear in the candidates is
a single reduction over that matrix; ``parameter(name)`` gives the ``(K, *shape)`` view of one
tensor. Non-floating-point tensors (e.g. position ids) are never merged: they are taken from
the first candidate.

Candidates of a cross-task merge (models fine-tuned on different tasks) share an encoder but
each has a head of its own: an ``unmerged(i, name)`` function names the tensors of candidate
i that stay out of the stacked matrix and the name each takes in the merged model (its
task's head, ``heads.<task>.<name>``); they are kept, unmerged, with the fixed tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from bomerge.errors import BomergeError
from bomerge.models import check_model_folder


@dataclass(frozen=True)
class Slot:
    """Where one named tensor lives in the flat layout."""

    name: str
    offset: int
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for dim in self.shape:
            n *= dim
        return n


def read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """The weights of a Hugging Face model folder (safetensors preferred)."""
    check_model_folder(folder)
    safetensors_file = folder / "model.safetensors"
    try:
        if safetensors_file.is_file():
            return load_file(str(safetensors_file))
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    except (SafetensorError, OSError, RuntimeError, EOFError) as error:
        raise BomergeError(f"{folder}: cannot read the weights: {error}") from None


def read_layout(folder: Path) -> dict[str, torch.Tensor]:
    """Tensor names and shapes of a model folder, read from the safetensors header only
    (meta tensors, no data), so candidates can be checked before any expensive work."""
    check_model_folder(folder)
    safetensors_file = folder / "model.safetensors"
    if not safetensors_file.is_file():
        return read_state_dict(folder)
    try:
        with safe_open(str(safetensors_file), framework="pt") as handle:
            return {
                name: torch.empty(handle.get_slice(name).get_shape(), device="meta")
                for name in handle.keys()  # noqa: SIM118 - safe_open has no __iter__
            }
    except (SafetensorError, OSError) as error:
        raise BomergeError(f"{folder}: cannot read the weights: {error}") from None


#: Candidate i's tensor ``name`` → its name in the merged model when it is kept out of the
#: merge (a cross-task candidate's own head), or None when it is merged.
Unmerged = Callable[[int, str], "str | None"]


def merged_part(state: dict[str, torch.Tensor], index: int,
                unmerged: Unmerged | None) -> dict[str, torch.Tensor]:
    """The tensors of candidate ``index`` that are merged (all, without ``unmerged``)."""
    if unmerged is None:
        return state
    return {name: t for name, t in state.items() if unmerged(index, name) is None}


def check_candidates(paths: Sequence[Path], unmerged: Unmerged | None = None) -> None:
    """Refuse, before loading any weights, candidates that are missing or differ in the
    names or shapes of the tensors they merge."""
    if not paths:
        raise BomergeError("no candidate checkpoints given")
    _check_same_layout(list(paths), [merged_part(read_layout(Path(p)), i, unmerged)
                                     for i, p in enumerate(paths)])


def _check_same_layout(paths: list[Path], state_dicts: list[dict[str, torch.Tensor]]) -> None:
    reference_path, reference = paths[0], state_dicts[0]
    for path, state in zip(paths[1:], state_dicts[1:], strict=True):
        missing = sorted(set(reference) - set(state))
        extra = sorted(set(state) - set(reference))
        shapes = sorted(
            f"{name} {tuple(reference[name].shape)} vs {tuple(state[name].shape)}"
            for name in set(reference) & set(state)
            if reference[name].shape != state[name].shape
        )
        problems = []
        if missing:
            problems.append(f"missing tensors {_few(missing)}")
        if extra:
            problems.append(f"extra tensors {_few(extra)}")
        if shapes:
            problems.append(f"shape mismatch {_few(shapes)}")
        if problems:
            raise BomergeError(
                f"candidate {path} does not match {reference_path}: " + "; ".join(problems)
            )


def _few(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


class CandidatePool:
    """K candidate checkpoints packed as one ``(K, P)`` matrix on ``device``.

    The matrix is float32, or a half type (bfloat16, float16) that halves its memory: the
    candidates are then stored rounded to it, but merges still compute in
    ``compute_dtype`` (float32), so only the storage is narrow, never the arithmetic.

    Attributes:
        paths: the K model folders, in order (candidate i is row i).
        stacked: ``(K, P)`` tensor in the storage dtype; row i holds candidate i's
            floating-point values (``row(i)`` gives them in ``compute_dtype``).
        slots: the layout of named tensors inside a row.
        fixed: tensors never merged: non-floating-point ones, taken from the first
            candidate, and cross-task candidates' own heads (``unmerged``).
    """

    def __init__(
        self,
        paths: list[Path],
        stacked: torch.Tensor,
        slots: list[Slot],
        fixed: dict[str, torch.Tensor],
        dtypes: dict[str, torch.dtype],
    ) -> None:
        self.paths = paths
        self.stacked = stacked
        self.slots = slots
        self.fixed = fixed
        self.dtypes = dtypes
        self._by_name = {slot.name: slot for slot in slots}

    @classmethod
    def load(cls, paths: list[Path], device: torch.device | str = "cpu",
             unmerged: Unmerged | None = None, dtype: torch.dtype = torch.float32) -> CandidatePool:
        """Read K model folders, check they share one architecture, and stack them in
        ``dtype`` (each value rounded to nearest); tensors ``unmerged`` names are kept, under
        their new names and in float32, with the fixed ones.

        Raises:
            BomergeError: no candidates, a folder is missing or unreadable, the candidates'
                tensor names or shapes differ (naming the tensors), or ``dtype`` is not a
                floating-point type.
        """
        if not paths:
            raise BomergeError("no candidate checkpoints given")
        if not dtype.is_floating_point:
            raise BomergeError(f"the candidate pool needs a floating-point dtype, not {dtype}")
        full = [read_state_dict(Path(p)) for p in paths]
        state_dicts = [merged_part(state, i, unmerged) for i, state in enumerate(full)]
        _check_same_layout(paths, state_dicts)
        slots, offset = [], 0
        for name, tensor in state_dicts[0].items():
            if tensor.is_floating_point():
                slots.append(Slot(name, offset, tuple(tensor.shape)))
                offset += tensor.numel()
        stacked = torch.empty((len(paths), offset), dtype=dtype, device=device)
        # float16 tops out at 65504: a larger weight would silently become inf.
        narrow = torch.finfo(dtype).max < torch.finfo(torch.float32).max
        for row, state in enumerate(state_dicts):
            for slot in slots:
                target = stacked[row, slot.offset : slot.offset + slot.numel]
                target.copy_(state[slot.name].reshape(-1))
                if narrow and bool(torch.isinf(target).any()) \
                        and not bool(torch.isinf(state[slot.name]).any()):
                    raise BomergeError(
                        f"candidate {paths[row]}: tensor {slot.name} exceeds the range of "
                        f"{str(dtype).removeprefix('torch.')} (±{torch.finfo(dtype).max:g}); "
                        "use merge.pool_dtype bfloat16 or float32")
        fixed = {
            name: tensor.to(device)
            for name, tensor in state_dicts[0].items()
            if not tensor.is_floating_point()
        }
        dtypes = {name: tensor.dtype for name, tensor in state_dicts[0].items()}
        if unmerged is not None:
            for i, state in enumerate(full):
                for name, tensor in state.items():
                    kept = unmerged(i, name)
                    if kept is not None:
                        fixed[kept] = tensor.to(device=device, dtype=torch.float32
                                                if tensor.is_floating_point() else tensor.dtype)
                        dtypes[kept] = tensor.dtype
        return cls([Path(p) for p in paths], stacked, slots, fixed, dtypes)

    @property
    def k(self) -> int:
        return self.stacked.shape[0]

    @property
    def num_values(self) -> int:
        return self.stacked.shape[1]

    @property
    def device(self) -> torch.device:
        return self.stacked.device

    @property
    def names(self) -> list[str]:
        return [slot.name for slot in self.slots]

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype merges accumulate and write in: float32 for a float32 or half-precision
        pool (a half type only stores the candidates), the pool's own when wider (float64)."""
        return torch.promote_types(self.stacked.dtype, torch.float32)

    @property
    def rounded(self) -> bool:
        """Whether the candidates are stored narrower than merges compute (a half pool)."""
        return self.stacked.dtype != self.compute_dtype

    def row(self, index: int) -> torch.Tensor:
        """Candidate ``index``'s ``(P,)`` values in ``compute_dtype``: a view of ``stacked``
        when it is stored so, else a converted copy (exact: every half value is a float32)."""
        return self.stacked[index].to(self.compute_dtype)

    def parameter(self, name: str) -> torch.Tensor:
        """The ``(K, *shape)`` view of tensor ``name`` across the K candidates."""
        slot = self._by_name[name]
        return self.stacked[:, slot.offset : slot.offset + slot.numel].view(self.k, *slot.shape)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named views into a flat ``(P,)`` vector (no copy), plus the fixed tensors."""
        views = {
            slot.name: flat[slot.offset : slot.offset + slot.numel].view(slot.shape)
            for slot in self.slots
        }
        views.update(self.fixed)
        return views

    def flatten(self, tensors: Mapping[str, torch.Tensor], fill: float = 0.0) -> torch.Tensor:
        """A ``(P,)`` vector in the pool's layout from named tensors; slots absent from
        ``tensors`` hold ``fill``."""
        flat = torch.full((self.num_values,), fill, dtype=self.compute_dtype, device=self.device)
        for slot in self.slots:
            if slot.name in tensors:
                flat[slot.offset : slot.offset + slot.numel].copy_(tensors[slot.name].reshape(-1))
        return flat

    def slot_mask(self, predicate: Callable[[str], bool]) -> torch.Tensor:
        """``(P,)`` bool: True on the values of tensors whose name satisfies ``predicate``."""
        mask = torch.zeros(self.num_values, dtype=torch.bool, device=self.device)
        for slot in self.slots:
            if predicate(slot.name):
                mask[slot.offset : slot.offset + slot.numel] = True
        return mask

    def load_base(self, folder: Path, prefix: str = "bert.") -> tuple[torch.Tensor, torch.Tensor]:
        """The pretrained start point θ_0 in this pool's layout, and where it is known.

        Names are matched as they are or without the task model's ``prefix`` (a bare
        ``BertModel`` names ``encoder.layer.0...`` what a classifier names
        ``bert.encoder.layer.0...``). Tensors the base lacks, such as a freshly initialised
        head, take the candidates' mean, so task vectors there are deviations from it.

        Returns:
            ``(P,)`` base values and a ``(P,)`` bool mask of the entries the base supplied.

        Raises:
            BomergeError: the base cannot be read, a shared tensor differs in shape, or the
                base shares no tensor with the candidates.
        """
        state = read_state_dict(folder)
        # θ_0 keeps full precision: it is never stored K times, and task vectors θ_i − θ_0
        # are then off only by θ_i's rounding.
        base = self.stacked.mean(dim=0, dtype=self.compute_dtype)
        known = torch.zeros(self.num_values, dtype=torch.bool, device=self.device)
        for slot in self.slots:
            name = slot.name if slot.name in state else slot.name.removeprefix(prefix)
            if name not in state:
                continue
            tensor = state[name]
            if tuple(tensor.shape) != slot.shape:
                raise BomergeError(
                    f"base {folder}: tensor {name} has shape {tuple(tensor.shape)}, "
                    f"the candidates' {slot.name} has {slot.shape}"
                )
            span = slice(slot.offset, slot.offset + slot.numel)
            base[span].copy_(tensor.reshape(-1))
            known[span] = True
        if not bool(known.any()):
            raise BomergeError(f"base {folder} shares no tensor with the candidates")
        return base, known

    def correlations_with(self, base: torch.Tensor, known: torch.Tensor) -> list[float]:
        """Per candidate, the Pearson correlation of its weight-matrix entries (tensors of
        two or more dimensions) with the base's, where the base supplied them: above 0.99
        for a fine-tune of a pretrained base, about 0 for an unrelated initialisation."""
        matrices = self.slot_mask(lambda name: len(self._by_name[name].shape) >= 2) & known
        reference = base[matrices]
        return [float(torch.corrcoef(torch.stack([self.row(i)[matrices], reference]))[0, 1])
                for i in range(self.k)]

    def empty_merge_buffer(self) -> torch.Tensor:
        """Preallocated ``(P,)`` storage in ``compute_dtype`` that merge methods write into,
        trial after trial."""
        return torch.empty(self.num_values, dtype=self.compute_dtype, device=self.device)
