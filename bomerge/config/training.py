"""The ``train:`` section: fine-tuning that produces candidates (a tiny BERT, SMART, an
intermediate task)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from bomerge.config.record import StrictRecord
from bomerge.config.sections import DataConfig, TaskConfig


class TinyModelConfig(StrictRecord):
    """A BertConfig small enough to train in seconds on a CPU; its WordPiece vocabulary is
    trained on the task's training sentences."""

    vocab_size: int = Field(
        600, ge=50,
        description="WordPiece vocabulary learnt on the fly from the task's rows",
    )
    hidden_size: int = Field(
        32, gt=0,
        description="BertConfig.hidden_size",
    )
    num_hidden_layers: int = Field(
        2, gt=0,
        description="BertConfig.num_hidden_layers",
    )
    num_attention_heads: int = Field(
        2, gt=0,
        description="BertConfig.num_attention_heads",
    )
    intermediate_size: int = Field(
        64, gt=0,
        description="BertConfig.intermediate_size",
    )
    max_position_embeddings: int = Field(
        128, gt=1,
        description="BertConfig.max_position_embeddings",
    )


class SmartConfig(StrictRecord):
    """SMART regularisation (Jiang et al., ACL 2020): the objective L(θ) + weight·R_s(θ) +
    proximal·D(θ, θ̃), R_s the output divergence under an adversarial perturbation of the
    input embeddings, D the divergence from a momentum copy θ̃ of the model. Defaults are
    the paper's (λ_s ∈ {1, 3, 5} there)."""

    weight: float = Field(1.0, ge=0, description="λ_s, the weight of the smoothness term R_s")
    epsilon: float = Field(1e-5, gt=0, description="the perturbation's ∞-norm radius ε")
    sigma: float = Field(1e-5, gt=0, description="standard deviation of the perturbation's "
                         "random start δ ~ N(0, σ²)")
    step_size: float = Field(1e-3, gt=0, description="η, the step of each ascent step on δ")
    steps: int = Field(1, ge=1, description="projected gradient ascent steps on δ per batch")
    momentum: float = Field(0.99, ge=0, lt=1, description="β of the momentum copy "
                            "θ̃ ← (1−β)θ + βθ̃, updated after every optimiser step")
    proximal: float = Field(1.0, ge=0, description="μ, the weight of the Bregman proximal "
                            "term D(θ, θ̃)")


class IntermediateConfig(StrictRecord):
    """``train.intermediate``: fine-tune the encoder on another one-head task first (STILTs,
    Phang et al. 2018); the run starts from it with fresh heads (``bomerge.train.intermediate``
    says which ``train:`` settings the intermediate run shares, and why)."""

    task: str | TaskConfig = Field(..., description="a one-head task's name, or a task section")
    data: DataConfig | None = Field(None, description="a named task's rows (default: task.data)")
    epochs: int = Field(
        1, gt=0,
        description="epochs of the intermediate task before the target task",
    )
    max_train_examples: int | None = Field(
        None, gt=0,
        description="at most this many intermediate-task rows; null: all",
    )
    learning_rate: float | None = Field(None, gt=0, description="default: train.learning_rate")


class TrainConfig(StrictRecord):
    """Fine-tuning that produces candidate checkpoints (the last ``keep_last`` snapshots)."""

    model: str = Field(
        "minilm",
        description="'minilm' (the packaged all-MiniLM-L6-v2), 'tiny', or a model folder",
    )
    tiny: TinyModelConfig = Field(
        TinyModelConfig(),
        description="the tiny BERT's shape (model: tiny)",
    )
    max_train_examples: int | None = Field(
        None, gt=0,
        description="at most this many training rows (a seeded subset); null: all",
    )
    epochs: int = Field(
        1, gt=0,
        description="passes over the training rows",
    )
    batch_size: int = Field(
        32, gt=0,
        description="training batch size",
    )
    learning_rate: float = Field(
        5e-5, gt=0,
        description="AdamW learning rate",
    )
    weight_decay: float = Field(
        0.01, ge=0,
        description="AdamW weight decay",
    )
    warmup_ratio: float = Field(
        0.1, ge=0, lt=1,
        description="share of the steps with a linear warm-up",
    )
    schedule: Literal["constant", "linear"] = Field(
        "constant",
        description="learning rate after warm-up: constant (SWA-style snapshots) or linear "
        "decay",
    )
    dropout: float | None = Field(
        None, ge=0, lt=1,
        description="the model's dropout; null: the model's own",
    )
    save_every: int | Literal["epoch"] = Field(
        "epoch",
        description="a snapshot every this many steps, or every epoch",
    )
    keep_last: int = Field(
        4, gt=0,
        description="the last this many snapshots are the candidates",
    )
    seed: int = Field(0, description="seed of the row subset, data order and dropout")
    init_seed: int | None = Field(
        None, description="seed of the fresh head's initialisation (default: seed); give "
        "fine-tunes one init_seed so they share a start point, as model soups require"
    )
    mode: str | None = Field(
        None, description="the training loop, one of the task's modes (default its first): "
        "shuffled (one head); round_robin, pcgrad or single (several heads)"
    )
    tasks: list[str] | None = Field(
        None, description="several heads: the heads trained (default all; one for 'single')"
    )
    task_weights: list[float] | None = Field(
        None, description="several heads: per-head loss/gradient weights, e.g. [0.5, 1, 1]"
    )
    smart: SmartConfig | None = Field(
        None, description="SMART regularisation of every head's loss (absent: plain "
        "training); 'smart: {}' takes the paper's defaults"
    )
    intermediate: IntermediateConfig | None = Field(
        None, description="fine-tune the encoder on another task first (absent: start from model)")
