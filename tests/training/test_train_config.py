"""TrainConfig: the public field names, defaults and the ranges it rejects."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sweeplab.training import TrainConfig

# The lead's search-space routing sends a parameter to TrainConfig when its name is here.
PUBLIC_FIELDS = {
    "epochs", "batch_size", "optimizer", "learning_rate", "beta", "beta1", "beta2", "epsilon",
    "lr_decay", "decay_rate", "decay_base", "decay_k", "decay_step", "decay_gamma", "l2",
    "early_stopping_patience", "bn_momentum", "ewma_beta", "device", "seed",
    # data augmentation (training/_augment.py) and transfer learning (models/_transfer.py)
    "augment_flip", "augment_crop", "augment_rotate", "augment_shear", "augment_color",
    "init_from", "transfer", "fine_tune_last_k", "save_checkpoint",
    # how much of the train split a trial trains on (tasks/classification.py)
    "train_share",
}  # fmt: skip


def test_field_names_are_the_public_contract_and_documented() -> None:
    assert set(TrainConfig.model_fields) == PUBLIC_FIELDS
    assert all(info.description for info in TrainConfig.model_fields.values())


def test_defaults() -> None:
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer, cfg.learning_rate) == (20, 64, "adam", 1e-3)
    assert (cfg.beta, cfg.beta1, cfg.beta2, cfg.epsilon) == (0.9, 0.9, 0.999, 1e-8)
    assert (cfg.lr_decay, cfg.l2, cfg.early_stopping_patience) == ("none", 0.0, None)
    assert (cfg.ewma_beta, cfg.device, cfg.seed) == (0.98, "auto", 0)
    assert cfg.train_share == 1.0  # all of the train split


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", 0),
        ("optimizer", "sgd"),
        ("learning_rate", 0.0),
        ("learning_rate", -1e-3),
        ("beta", 1.0),
        ("beta", -0.1),
        ("beta1", 1.0),
        ("beta2", 1.0),
        ("epsilon", 0.0),
        ("lr_decay", "cosine"),
        ("decay_rate", -1.0),
        ("decay_base", 0.0),
        ("decay_base", 1.5),
        ("decay_k", 0.0),
        ("decay_step", 0),
        ("decay_gamma", 0.0),
        ("decay_gamma", 2.0),
        ("l2", -0.1),
        ("early_stopping_patience", 0),
        ("ewma_beta", 1.0),
        ("device", "tpu"),
        ("seed", -1),
        ("learnig_rate", 0.1),  # misspelled: extra keys are errors, not ignored
    ],
)
def test_invalid_values_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        TrainConfig(**{field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_frozen() -> None:
    with pytest.raises(ValidationError):
        TrainConfig().epochs = 3  # type: ignore[misc]
