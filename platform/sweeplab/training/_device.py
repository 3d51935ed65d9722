"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import torch

from sweeplab.errors import UserError

__all__ = ["resolve_device", "seed_everything", "threads_for_cpus", "use_threads"]


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


def threads_for_cpus(cpus: float) -> int:
    """Torch intra-op threads for a trial given ``cpus`` CPUs: ``max(1, int(cpus))``.

    The Ray backend runs several trials at once, each on its share of the cores (``--cpus-per-trial``);
    torch's default (one thread per core of the machine) would oversubscribe them: two
    concurrent trials with 2 threads each on 2 cores spin-wait on each other's descheduled
    OpenMP threads. A fractional share (0.5, GPU trials) still gets one thread.
    """
    return max(1, int(cpus))


def use_threads(n: int) -> int:
    """``torch.set_num_threads(n)`` when it differs; returns the count now in force."""
    if n >= 1 and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()
