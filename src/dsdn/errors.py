"""User-facing errors: one line naming the argument, the value, what is allowed and what to do."""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any


class DSDNInputError(ValueError):
    """A bad argument or input file. The message is meant to be shown to the user as is."""


class DSDNRunError(Exception):
    """A command failed while working (a fault, not a bad argument). The message says what is intact
    and what to do; the command exits with code 1."""


class NonFiniteOutputError(DSDNInputError):
    """Sampling produced NaN or infinite values: nothing is written (the likely causes are in the message)."""


def invalid(name: str, value: Any, allowed: str, hint: str = "") -> DSDNInputError:
    """Build the standard one-line message: ``name=value is invalid: allowed. hint``."""
    msg = f"{name}={value!r} is invalid: {allowed}."
    if hint:
        msg += f" {hint}"
    return DSDNInputError(msg)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    choices = list(choices)
    if value not in choices:
        raise invalid(name, value, "must be one of " + ", ".join(repr(c) for c in choices))


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise invalid(name, value, f"must be an integer >= {low}" + ("" if high is None else f" and <= {high}"))
    if high is not None and value > high:
        raise invalid(name, value, f"must be an integer <= {high}")
    return int(value)


def check_float(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise invalid(name, value, "must be a number")
    v = float(value)
    if not math.isfinite(v) or not low <= v <= high:
        raise invalid(name, value, f"must be a finite number in [{low}, {high}]")
    return v


#: Largest height or width accepted: far above what SD-1.x models were trained for, and small
#: enough that an accidental extra digit fails at once instead of exhausting memory.
MAX_PIXELS = 4096


def check_size(name: str, value: Any, factor: int | None) -> int:
    """A height, width or size in pixels: from ``factor`` (or 1) to :data:`MAX_PIXELS`, a multiple of ``factor``."""
    check_int(name, value, factor or 1, MAX_PIXELS)
    if factor and value % factor:
        raise invalid(
            name,
            value,
            f"must be a multiple of {factor} for this model",
            f"Try {max(factor, value // factor * factor)}.",
        )
    return int(value)


#: Largest seed accepted: torch's generators take 64-bit seeds, and runs add small offsets (seed + i).
MAX_SEED = 2**63 - 1


def check_seed(value: Any, name: str = "seed") -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or not 0 <= value <= MAX_SEED:
        raise invalid(name, value, f"must be an integer from 0 to {MAX_SEED} (2**63 - 1)")
    return int(value)


def check_finite(tensor, message: str) -> None:
    """Raise :class:`NonFiniteOutputError` with ``message`` when ``tensor`` holds a NaN or an infinity (a black video
    is never written)."""
    import torch

    if not torch.isfinite(tensor).all():
        raise NonFiniteOutputError(message)
