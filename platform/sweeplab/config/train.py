"""``TrainConfig``: the ``train:`` section of a project, and the names a search space tunes.

The field names are public: a search-space parameter with the same name (``learning_rate``,
``beta``, ``batch_size`` …) overrides the field for one trial.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sweeplab.config._base import Schema

__all__ = ["TrainConfig"]


class TrainConfig(Schema):
    """How a model is trained: mini-batch size, optimizer, learning-rate decay, L2, stopping."""

    epochs: int = Field(default=20, ge=1, description="Passes over the training set.")
    batch_size: int = Field(
        default=64,
        ge=1,
        description=(
            "Mini-batch size: 1 is stochastic gradient descent, a value >= the training-set "
            "size m is batch gradient descent (one step per epoch). The last partial "
            "mini-batch of an epoch is used."
        ),
    )
    optimizer: Literal["gd", "momentum", "rmsprop", "adam"] = Field(
        default="adam",
        description=(
            "gd: W -= α dW; momentum: v = βv + (1−β)dW, W -= α v; rmsprop: "
            "S = β2 S + (1−β2) dW², W -= α dW / (√S + ε); adam: both, bias-corrected."
        ),
    )
    learning_rate: float = Field(default=1e-3, gt=0.0, description="α0, the initial learning rate.")
    beta: float = Field(
        default=0.9,
        ge=0.0,
        lt=1.0,
        description="Momentum's β, in [0, 1) (averages ~1/(1−β) steps).",
    )
    beta1: float = Field(default=0.9, ge=0.0, lt=1.0, description="Adam's β1, in [0, 1).")
    beta2: float = Field(
        default=0.999,
        ge=0.0,
        lt=1.0,
        description="Adam's β2 and RMSprop's decay of the squared gradients, in [0, 1).",
    )
    epsilon: float = Field(
        default=1e-8, gt=0.0, description="ε of RMSprop and Adam, added to √S (outside the root)."
    )
    lr_decay: Literal["none", "inverse_time", "exponential", "inverse_sqrt", "step"] = Field(
        default="none",
        description=(
            "Learning-rate schedule, set at the start of each epoch e = 1, 2, …: "
            "inverse_time α0/(1 + decay_rate·e); exponential α0·decay_base^e; "
            "inverse_sqrt α0·decay_k/√e; step α0·decay_gamma^⌊(e−1)/decay_step⌋."
        ),
    )
    decay_rate: float = Field(default=1.0, ge=0.0, description="decay_rate of inverse_time.")
    decay_base: float = Field(
        default=0.95, gt=0.0, le=1.0, description="Base of exponential decay, in (0, 1]."
    )
    decay_k: float = Field(default=1.0, gt=0.0, description="k of inverse_sqrt decay.")
    decay_step: int = Field(default=10, ge=1, description="Epochs between two step decays.")
    decay_gamma: float = Field(
        default=0.5, gt=0.0, le=1.0, description="Factor of each step decay, in (0, 1]."
    )
    l2: float = Field(
        default=0.0,
        ge=0.0,
        description=(
            "λ of L2 regularization: (λ/2m)·Σ‖W‖²_F is added to each mini-batch's cost, "
            "m = the mini-batch size; weights only (not biases or batch-norm γ, β)."
        ),
    )
    early_stopping_patience: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Stop after this many epochs without a lower dev_error and restore the best "
            "epoch's weights; needs a dev set. None trains all epochs."
        ),
    )
    train_share: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description=(
            "Share of the train split the model trains on, in (0, 1]: a stratified subset, "
            "fixed by data.seed and nested (a smaller share is part of a larger one); "
            "train_dev, dev and test stay as they are. Search it for a learning curve; "
            "classification tasks only."
        ),
    )
    bn_momentum: float = Field(
        default=0.9,
        ge=0.0,
        lt=1.0,
        description=(
            "β of batch norm's running averages, used at test time: after each training "
            "mini-batch μ_run = β·μ_run + (1−β)·μ_batch and σ²_run = β·σ²_run + "
            "(1−β)·σ²_batch (σ²_batch unbiased, m/(m−1)); averages ~1/(1−β) batches. "
            "0.9 is PyTorch's momentum 0.1. Search it with one_minus_log_uniform."
        ),
    )
    ewma_beta: float = Field(
        default=0.98,
        ge=0.0,
        lt=1.0,
        description="β of train_loss_ewma, the bias-corrected moving average of step losses.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: cuda when available, else cpu."
    )
    seed: int = Field(default=0, ge=0, description="Seed of the mini-batch shuffling.")
    # Data augmentation of training batches only (training/_augment.py); 0 / false = off.
    augment_flip: bool = Field(
        default=False, description="Mirror each training image left-right with probability 1/2."
    )
    augment_crop: int = Field(
        default=0,
        ge=0,
        description="Random crops: pad by this many pixels, crop back at a random offset.",
    )
    augment_rotate: float = Field(
        default=0.0, ge=0.0, le=180.0, description="Random rotation, uniform in ±this, degrees."
    )
    augment_shear: float = Field(
        default=0.0, ge=0.0, lt=90.0, description="Random x-shear, uniform in ±this, degrees."
    )
    augment_color: float = Field(
        default=0.0,
        ge=0.0,
        description="Colour shift: add uniform ±this to each channel (normalized units).",
    )
    # Transfer learning (models/_transfer.py): start from an earlier run's weights.
    init_from: str | None = Field(
        default=None,
        description=(
            "Checkpoint to start from: a state_dict file (relative to the project file), an "
            "MLflow run id or runs:/ID (its artifact weights/state_dict.pt), or best:PROJECT "
            "(the best trial of that project's latest sweep). The output layer is replaced."
        ),
    )
    transfer: Literal["fine_tune_all", "freeze_backbone", "fine_tune_last_k", "scratch"] = Field(
        default="fine_tune_all",
        description=(
            "With init_from: fine_tune_all trains every layer from the checkpoint's weights; "
            "freeze_backbone trains only the new output layer; fine_tune_last_k trains the "
            "last fine_tune_last_k layers (the new output layer is one); scratch ignores the "
            "checkpoint and trains a fresh initialization (the baseline: search transfer over "
            "[scratch, fine_tune_all, ...] to compare them in one sweep)."
        ),
    )
    fine_tune_last_k: int = Field(
        default=1,
        ge=1,
        description="Layers (conv / linear, from the output) fine_tune_last_k trains.",
    )
    save_checkpoint: bool = Field(
        default=False,
        description="Log the trained weights as the artifact weights/state_dict.pt of each trial.",
    )

    @model_validator(mode="after")
    def _transfer_rules(self) -> TrainConfig:
        if self.transfer == "scratch" and self.init_from is None:
            raise ValueError(
                "transfer='scratch' ignores init_from, but init_from is not set: every trial "
                "already trains from scratch; remove transfer or set init_from"
            )
        if self.transfer != "fine_tune_all" and self.init_from is None:
            raise ValueError(
                f"transfer={self.transfer!r} needs a checkpoint to start from; set init_from "
                "or remove transfer"
            )
        if self.fine_tune_last_k != 1 and self.transfer != "fine_tune_last_k":
            raise ValueError(
                "fine_tune_last_k is used only with transfer='fine_tune_last_k', but got "
                f"transfer={self.transfer!r}; remove fine_tune_last_k or set the transfer mode"
            )
        return self
