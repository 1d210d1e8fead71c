"""Device selection: CUDA when present, CPU otherwise; never a hard-coded device."""

from __future__ import annotations

import torch

from honing.errors import HoningError


def resolve_device(name: str = "auto") -> torch.device:
    """Map ``auto`` / ``cpu`` / ``cuda`` / ``cuda:N`` to a torch device, checking availability."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise HoningError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HoningError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device
