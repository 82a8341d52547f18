"""User-facing errors: one line naming the argument, the value, what is allowed and what to do."""

from __future__ import annotations

from typing import Any, Iterable


class DSDNInputError(ValueError):
    """A bad argument or input file. The message is meant to be shown to the user as is."""


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
