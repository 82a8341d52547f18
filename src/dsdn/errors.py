"""User-facing errors: one line naming the argument, the value, what is allowed and what to do."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Iterable


class DSDNInputError(ValueError):
    """A bad argument or input file. The message is meant to be shown to the user as is."""


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


def check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise invalid(name, value, f"must be an integer >= {low}")
    return int(value)


def check_float(name: str, value: Any, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise invalid(name, value, "must be a number")
    v = float(value)
    if not math.isfinite(v) or not low <= v <= high:
        raise invalid(name, value, f"must be a finite number in [{low}, {high}]")
    return v
