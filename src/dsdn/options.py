"""The sampling options a caller may override, their closed choices and their checks, importable without
torch (``dsdn generate`` and ``dsdn eval toy`` check them before any heavy library loads)."""

from __future__ import annotations

import math

from .errors import check_choice, check_float, check_int, invalid

#: Motion combiners (:mod:`dsdn.motion_codec`).
COMBINERS = ("causal", "least_squares")


def check_sampling_options(
    guidance: float | None = None, motion_guidance: float | None = None, motion_coherence: float | None = None,
    combiner: str | None = None, stream_sync: float | None = None, shared_noise: float | None = None,
    carry_from: float | None = None, early_coherence: float | None = None, early_until: float | None = None,
) -> None:  # fmt: skip
    """Check the sampling settings given (``None``: the model's default, nothing to check); a bad one is a
    one-line :class:`~dsdn.errors.DSDNInputError` naming it."""
    for name, value, high in (("guidance", guidance, math.inf), ("motion_guidance", motion_guidance, math.inf),
                              ("motion_coherence", motion_coherence, 1.0), ("stream_sync", stream_sync, 1.0),
                              ("shared_noise", shared_noise, 1.0), ("carry_from", carry_from, 1.0),
                              ("early_coherence", early_coherence, 1.0), ("early_until", early_until, 1.0)):  # fmt: skip
        if value is not None:
            check_float(name, value, 0.0, high)
    if combiner is not None:
        check_choice("combiner", combiner, COMBINERS)
    if stream_sync is not None:
        check_needs_sync(stream_sync, carry_from, early_until)


def check_needs_sync(stream_sync: float, carry_from: float | None, early_until: float | None) -> None:
    """Object carry and early steps act on the synced video: refuse them (given) without stream sync."""
    if stream_sync > 0.0:
        return
    if carry_from is not None and carry_from < 1.0:
        raise invalid("carry_from", carry_from, "carries frame 1's object in the synced video: it needs "
                      "stream_sync > 0 (or carry_from=1)")  # fmt: skip
    if early_until is not None and early_until > 0.0:
        raise invalid("early_until", early_until, "sets γ of the synced video's early steps: it needs "
                      "stream_sync > 0 (or early_until=0)")  # fmt: skip


def check_cache_options(interval: int, depth: int, max_depth: int | None = None) -> None:
    """The step cache's settings (:mod:`dsdn.step_cache`): ``interval`` >= 1 (1: off), ``depth`` in [1, ``max_depth``]."""
    check_int("cache_interval", interval, 1)
    check_int("cache_depth", depth, 1, max_depth)
