"""Invariants every registered model must hold; a new model is tested by registering it."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from torch.nn import functional as F

from sweeplab.models import MODELS
from sweeplab.models._summary import describe
from sweeplab.tasks import TASKS
from sweeplab.tasks.classification import Classification

# the tasks whose models are not classifiers (detection, segmentation, …)
VISION_TASKS = {t for t in TASKS if not isinstance(TASKS.get(t), Classification)}

# Classification networks: (B, num_outputs) logits. The vision-task networks (grid
# detector, U-Net, Siamese encoder, style feature net) have their own output shapes and are
# tested in tests/vision/test_vision_registry.py.
NAMES = [n for n in MODELS if not set(MODELS.get(n).tasks) & VISION_TASKS]


def _build(name: str, seed: int = 0) -> torch.nn.Module:
    spec = MODELS.get(name)
    torch.manual_seed(seed)
    return spec.build(spec.args(), input_shape=spec.example_input, num_outputs=spec.example_outputs)


def _expected_outputs(name: str) -> int:
    spec = MODELS.get(name)
    return 1 if set(spec.tasks) == {"binary"} else spec.example_outputs


def test_registry_has_the_cnns() -> None:
    assert {"lenet5", "alexnet", "vgg", "resnet", "inception"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_shape_and_finite_gradients(name: str) -> None:
    spec = MODELS.get(name)
    model = _build(name).train()
    torch.manual_seed(1)
    x = torch.randn(3, *spec.example_input)  # (B, *example_input)
    logits = model(x)
    k = _expected_outputs(name)
    assert logits.shape == (3, k)
    if k == 1:
        loss = F.binary_cross_entropy_with_logits(logits.squeeze(1), torch.tensor([0.0, 1.0, 1.0]))
    else:
        loss = F.cross_entropy(logits, torch.tensor([0, 1, 2]) % k)
    loss.backward()
    assert torch.isfinite(loss)
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: parameter {pname} gets no gradient"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient in {pname}"


@pytest.mark.parametrize("name", NAMES)
def test_describe_total_equals_parameter_count(name: str) -> None:
    spec = MODELS.get(name)
    model = _build(name)
    summary = describe(model, spec.example_input)
    n_params = sum(p.numel() for p in model.parameters())
    assert summary.total_params == n_params
    assert sum(row.params for row in summary) == n_params  # every parameter in exactly one row
    assert model.training  # describe puts the mode back
    assert summary[-1].output_shape in {(_expected_outputs(name),), None}


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_parameters(name: str) -> None:
    a, b = _build(name, seed=3), _build(name, seed=3)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert na == nb
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("name", NAMES)
def test_eval_mode_is_deterministic(name: str) -> None:
    spec = MODELS.get(name)
    model = _build(name).eval()
    x = torch.randn(2, *spec.example_input)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", NAMES)
def test_args_schema_is_documented_and_strict(name: str) -> None:
    spec = MODELS.get(name)
    assert spec.description
    for field_name, info in spec.args.model_fields.items():
        assert info.description, f"{name}: field {field_name} has no description"
    with pytest.raises(ValidationError):
        spec.args(no_such_argument=1)


@pytest.mark.parametrize("name", [n for n in NAMES if MODELS.get(n).input_kind == "image"])
def test_image_models_reject_vector_inputs(name: str) -> None:
    from sweeplab.errors import UserError

    spec = MODELS.get(name)
    with pytest.raises(UserError, match=name):
        spec.build(spec.args(), input_shape=(math.prod(spec.example_input),), num_outputs=10)


@pytest.mark.parametrize("name", [n for n in NAMES if "multilabel" in MODELS.get(n).tasks])
def test_multilabel_models_give_one_logit_per_label(name: str) -> None:
    from sweeplab.training import masked_bce_loss

    spec = MODELS.get(name)
    torch.manual_seed(0)
    model = spec.build(spec.args(), input_shape=spec.example_input, num_outputs=4).train()
    logits = model(torch.randn(3, *spec.example_input))
    assert logits.shape == (3, 4)  # (N, T): one sigmoid output per label
    y = torch.tensor([[1.0, 0.0, float("nan"), 1.0]] * 3)
    loss = masked_bce_loss(logits, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_multilabel_is_offered_by_the_classifiers_with_a_plain_linear_output() -> None:
    offered = {n for n in NAMES if "multilabel" in MODELS.get(n).tasks}
    assert {"mlp", "lenet5", "alexnet", "vgg", "resnet", "inception"} <= offered
    assert not offered & {"softmax", "logreg"}
