"""Choosing the torch device: one place that checks a ``--device`` value and resolves ``auto``.

Everything that runs models (generation, evaluation, the web page, training) picks its device here, so
``auto`` means the same everywhere: CUDA when this install of torch has it, else the CPU (``mps`` and ``xpu``
only when asked by name). Training under Accelerate asks :func:`has_accelerator_device` instead and lets
Accelerate place the run.
"""

from __future__ import annotations

from typing import Any

from .errors import invalid


def check_device(value: Any, name: str = "device") -> str:
    """``auto`` or a torch device this machine has (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``xpu``)."""
    if value == "auto":
        return value
    import torch

    kinds = "must be auto, cpu, cuda, cuda:N, mps or xpu"

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise invalid(name, value, kinds) from None
    backend = {"cuda": torch.cuda, "mps": getattr(torch.backends, "mps", None), "xpu": getattr(torch, "xpu", None)}
    if device.type == "cpu":
        return value
    if device.type not in backend:
        raise invalid(name, value, kinds)
    module = backend[device.type]
    if module is None or not module.is_available():
        raise invalid(
            name, value, f"this install of torch has no usable {device.type} device", "Use --device cpu or auto."
        )
    count = module.device_count() if hasattr(module, "device_count") else 1
    if device.index is not None and device.index >= count:
        raise invalid(name, value, f"this machine has {count} {device.type} device(s)", "Use an index below that.")
    return value


def resolve_device(name: str | None = "auto"):
    """The ``torch.device`` for a checked ``--device`` value: ``auto`` (or ``None``) is CUDA when present, else
    the CPU."""
    import torch

    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def has_accelerator_device() -> bool:
    """Whether torch sees a CUDA, MPS or XPU device (Accelerate runs on the CPU otherwise)."""
    import torch

    xpu = getattr(torch, "xpu", None)
    return bool(
        torch.cuda.is_available() or torch.backends.mps.is_available() or (xpu is not None and xpu.is_available())
    )
