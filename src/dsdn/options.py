"""The sampling options a caller may override, their closed choices and their checks, importable without
torch (``dsdn generate`` and ``dsdn eval toy`` check them before any heavy library loads)."""

from __future__ import annotations

import math

from .errors import check_choice, check_float

#: Motion combiners (:mod:`dsdn.motion_codec`).
COMBINERS = ("causal", "least_squares")


def check_sampling_options(
    guidance: float | None = None, motion_guidance: float | None = None, motion_coherence: float | None = None,
    combiner: str | None = None, stream_sync: float | None = None, shared_noise: float | None = None,
    carry_from: float | None = None,
) -> None:  # fmt: skip
    """Check the sampling settings given (``None``: the model's default, nothing to check); a bad one is a
    one-line :class:`~dsdn.errors.DSDNInputError` naming it."""
    for name, value, high in (("guidance", guidance, math.inf), ("motion_guidance", motion_guidance, math.inf),
                              ("motion_coherence", motion_coherence, 1.0), ("stream_sync", stream_sync, 1.0),
                              ("shared_noise", shared_noise, 1.0), ("carry_from", carry_from, 1.0)):  # fmt: skip
        if value is not None:
            check_float(name, value, 0.0, high)
    if combiner is not None:
        check_choice("combiner", combiner, COMBINERS)
