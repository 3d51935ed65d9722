"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch

from sweeplab.errors import UserError

__all__ = ["resolve_device", "seed_everything"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda when ``torch.cuda.is_available()``, else cpu; "cpu" / "cuda" as given."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "device 'cuda' was asked for, but torch.cuda.is_available() is False on this "
            "machine; use device 'auto' or 'cpu'",
            key="train.device",
        )
    if device not in ("cpu", "cuda"):
        raise UserError(f"`device` must be one of auto, cpu, cuda, but got {device!r}")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators.

    Call it before building the model: it fixes the initial weights and, with them, the
    dropout masks drawn during training (``fit`` shuffles with its own generator).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
