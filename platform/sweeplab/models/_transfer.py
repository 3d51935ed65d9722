"""Transfer learning: start a model from an earlier run's weights, with a new output layer.

The course's recipe: take a network trained on task A, delete its output layer, put a new,
randomly initialized one in its place for task B, then either train only the new layer
(``freeze_backbone``; the course's "freeze the backbone" and "train only the new layers"
are the same thing), the last few layers (``fine_tune_last_k``), or every layer starting
from the pre-trained weights (``fine_tune_all``; the better choice with more data for B).
``scratch`` ignores the checkpoint: the baseline, so that one sweep with ``transfer`` in its
search space shows in the MLflow UI whether starting from A's weights pays at all.

A checkpoint is a plain ``state_dict`` (``torch.save``; loaded with ``weights_only=True``),
logged by a trial with ``train.save_checkpoint: true`` (or a kept model: the project's
``tracking.log_models``) as the MLflow artifact ``weights/state_dict.pt`` (runs of earlier
versions: ``model/state_dict.pt``; ``model`` is now the MLflow model's name). The output layer of every registry model is its last
``nn.Linear`` in module order (``head.out`` for LeNet-5 / AlexNet / VGG, ``fc`` for ResNet
and Inception, ``out`` for the MLP): :func:`output_layer_name` finds it, so no model needs a
special attribute. Frozen layers keep their weights, but a frozen batch-norm layer still
normalizes with batch statistics in training mode (PyTorch's usual behaviour).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from sweeplab.errors import UserError, unknown_name_error
from sweeplab.files import CHECKPOINT, check_size

__all__ = [
    "CHECKPOINT_ARTIFACT",
    "LEGACY_CHECKPOINT_ARTIFACT",
    "TRANSFER_MODES",
    "apply_transfer",
    "read_state_dict",
    "output_layer_name",
    "save_checkpoint",
    "set_trainable",
    "transfer_weights",
]

CHECKPOINT_ARTIFACT = "weights/state_dict.pt"
# Where runs of earlier versions kept it: read, never written (``runs:/ID/model`` is the
# run's MLflow model, and MLflow lists a logged model's files under its name).
LEGACY_CHECKPOINT_ARTIFACT = "model/state_dict.pt"
TRANSFER_MODES = ("fine_tune_all", "freeze_backbone", "fine_tune_last_k", "scratch")
_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def output_layer_name(model: nn.Module) -> str:
    """Qualified name of the output layer: the model's ``output_layer`` where it names one (a
    fully convolutional network's last conv), else the last ``nn.Linear`` in module order."""
    declared = getattr(model, "output_layer", None)
    if isinstance(declared, str):
        return declared
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise UserError(
            f"{type(model).__name__} has no nn.Linear output layer, so transfer learning "
            "cannot replace it"
        )
    return names[-1]


def save_checkpoint(model: nn.Module | dict[str, torch.Tensor], path: str | Path) -> Path:
    """Write ``model.state_dict()`` (or a state_dict) to ``path``, on the CPU; returns the path."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in state.items()}, path)
    return path


def read_state_dict(path: Path, shown: str) -> dict[str, torch.Tensor]:
    try:
        check_size(path, CHECKPOINT)
    except UserError as exc:
        raise UserError(f"checkpoint {shown}: {exc.message}", key="train.init_from") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(
            f"cannot read checkpoint {shown}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
            key="train.init_from",
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise UserError(
            f"checkpoint {shown} is not a state_dict (a dict of parameter name -> tensor)",
            key="train.init_from",
        )
    return state


def transfer_weights(
    model: nn.Module, state: dict[str, torch.Tensor], *, model_name: str = "the model"
) -> str:
    """Copy every weight of ``state`` into ``model`` except the output layer's; returns its name.

    The model keeps its own freshly initialized output layer (its number of outputs is the
    new task's). A checkpoint of another architecture (other names or shapes) raises one
    :class:`UserError` that lists what does not fit.
    """
    head = output_layer_name(model)

    def body(keys):
        return {k for k in keys if not k.startswith(head + ".")}

    own = model.state_dict()
    mine, theirs = body(own), body(state)
    missing, unexpected = sorted(mine - theirs), sorted(theirs - mine)
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
        for k in mine & theirs
        if state[k].shape != own[k].shape
    )
    if missing or unexpected or shapes:
        parts = []
        for what, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if items:
                shown = ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
                label = {
                    "missing": "missing in the checkpoint",
                    "unexpected": "not in the model",
                    "shape": "of another shape",
                }[what]
                parts.append(f"{len(items)} {label} ({shown})")
        raise UserError(
            f"the checkpoint does not fit {model_name}: it comes from another architecture; "
            f"weights {'; '.join(parts)}. Start from a checkpoint of the same model with the "
            "same architecture arguments (only the output layer may differ)",
            key="train.init_from",
        )
    with torch.no_grad():
        for k in mine:
            own[k].copy_(state[k].to(own[k].device, own[k].dtype))
    return head


def set_trainable(model: nn.Module, mode: str, *, last_k: int = 1) -> int:
    """Freeze layers for ``mode`` (one of :data:`TRANSFER_MODES`); returns trainable params.

    ``fine_tune_last_k`` counts conv / linear layers from the output (the output layer is 1)
    and also trains everything registered after the k-th last one (its batch norm, ...).
    """
    if mode not in TRANSFER_MODES:
        raise unknown_name_error("transfer mode", mode, TRANSFER_MODES, key="train.transfer")
    owners = [(n, m) for n, m in model.named_modules() if list(m.parameters(recurse=False))]
    if mode in ("fine_tune_all", "scratch"):
        start = 0
    elif mode == "freeze_backbone":
        head = output_layer_name(model)
        start = next(i for i, (n, _) in enumerate(owners) if n == head)
    else:
        layers = [i for i, (_, m) in enumerate(owners) if isinstance(m, _LAYER_TYPES)]
        if last_k > len(layers):
            raise UserError(
                f"fine_tune_last_k <= {len(layers)} (the model's conv and linear layers) must "
                f"hold, but got fine_tune_last_k={last_k}; use transfer: fine_tune_all",
                key="train.fine_tune_last_k",
            )
        start = layers[-last_k]
    for i, (_, m) in enumerate(owners):
        for p in m.parameters(recurse=False):
            p.requires_grad_(i >= start)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def apply_transfer(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    mode: str = "fine_tune_all",
    last_k: int = 1,
    model_name: str = "the model",
) -> int:
    """:func:`transfer_weights` then :func:`set_trainable`; returns the trainable params.

    ``mode="scratch"`` leaves the model as initialized (``state`` is not read): the baseline
    the other modes are compared with in one sweep.
    """
    if mode != "scratch":
        transfer_weights(model, state, model_name=model_name)
    return set_trainable(model, mode, last_k=last_k)
