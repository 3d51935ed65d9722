"""End to end on scikit-learn's bundled data: each model learns its task to a low dev error."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from sweeplab.models import MODELS, build_model
from sweeplab.training import TrainConfig, TrainData, fit, predict, seed_everything

LOADERS = {"digits": load_digits, "breast_cancer": load_breast_cancer}


def _split(dataset: str) -> TrainData:
    """80 / 20 stratified split, standardized with the training set's mean and std."""
    X, y = LOADERS[dataset](return_X_y=True)
    X_tr, X_dev, y_tr, y_dev = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    mu, sd = X_tr.mean(0), X_tr.std(0)
    sd[sd == 0] = 1.0  # digits has constant border pixels
    as_x = lambda a: torch.tensor((a - mu) / sd, dtype=torch.float32)  # noqa: E731
    return TrainData((as_x(X_tr), torch.tensor(y_tr)), {"dev": (as_x(X_dev), torch.tensor(y_dev))})


CASES = [
    # (model, args, dataset, task, train config)
    (
        "mlp",
        {"hidden_units": 64, "keep_prob": 0.9},
        "digits",
        "multiclass",
        {"learning_rate": 3e-3},
    ),
    ("mlp", {"hidden_sizes": [32], "batch_norm": True}, "breast_cancer", "binary", {}),
    ("softmax", {}, "digits", "multiclass", {}),
    ("logreg", {}, "breast_cancer", "binary", {}),
]


@pytest.mark.parametrize(
    ("name", "args", "dataset", "task", "train"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES]
)
def test_reaches_low_dev_error(name, args, dataset, task, train) -> None:
    data = _split(dataset)
    X_tr, y_tr = data.train
    assert task in MODELS.get(name).tasks
    k = 1 if task == "binary" else int(y_tr.max()) + 1
    seed_everything(0)
    model = build_model(name, args, input_shape=tuple(X_tr.shape[1:]), num_outputs=k)
    cfg = TrainConfig(
        **{"epochs": 15, "batch_size": 32, "learning_rate": 1e-2, "device": "cpu", **train}
    )
    result = fit(model, data, cfg, task=task)  # ~0.1-0.5 s on an idle 2-core machine
    assert result.final["dev_error"] < 0.06, result.history
    assert result.final["train_error"] <= result.final["dev_error"] + 0.02
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # The reported dev error is what predict() gives with the weights fit() left behind.
    X_dev, y_dev = data.evals["dev"]
    labels, _ = predict(model, X_dev, task=task)
    assert result.final["dev_error"] == pytest.approx((labels != y_dev.numpy()).mean())
