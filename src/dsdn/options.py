"""The sampling options a caller may override, their closed choices and their checks, importable without
torch (``dsdn generate`` and ``dsdn eval toy`` check them before any heavy library loads)."""

from __future__ import annotations

import math

from .errors import check_choice, check_float, check_int, invalid

#: Motion combiners (:mod:`dsdn.motion_codec`).
COMBINERS = ("causal", "least_squares")
V2V_STRENGTH = 0.6  # video-to-video: the share of the steps run from the source
# Motion transfer: the share of the steps run from the reference clip, and the share of those during which the
# motion stream is held at the reference's motion (chosen on toy-world pairs: docs/experiments, 2026-12-05).
TRANSFER_STRENGTH, TRANSFER_HOLD = 0.8, 0.5
# Image-to-video: the early steps' γ when the call asks for no γ (every frame starts from the picture, so the motion
# stream alone sets the path while the layout is decided), and object carry's path smoothing (the object waits at
# the picture's place for a frame or two, then jumps; :func:`~dsdn.carry.smooth_path`'s weight). Chosen on toy-world
# pictures (research/image_to_video.py --seed 100; docs/experiments, 2026-12-05).
IMAGE_EARLY_COHERENCE, IMAGE_CARRY_SMOOTH = 1.0, 1.0


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


def source_settings(source: str | None, strength: float | None, motion_hold: float | None,
                    sources: str = "video= or motion_video=") -> tuple[float, float]:  # fmt: skip
    """``(strength, motion_hold)`` of a run that starts from a source clip, the defaults filled in; ``source``
    is ``"video"`` (video-to-video: :data:`V2V_STRENGTH`, no hold), ``"motion"`` (motion transfer:
    :data:`TRANSFER_STRENGTH`, :data:`TRANSFER_HOLD`) or ``None`` (no source: ``(1, 0)``, and either setting
    given is refused; ``sources`` names the arguments that give one)."""
    if source is None:
        for name, value in (("strength", strength), ("motion_hold", motion_hold)):
            if value is not None:
                raise invalid(name, value, f"needs a source clip ({sources})")
        return 1.0, 0.0
    transfer = source == "motion"
    strength = (TRANSFER_STRENGTH if transfer else V2V_STRENGTH) if strength is None else strength
    motion_hold = (TRANSFER_HOLD if transfer else 0.0) if motion_hold is None else motion_hold
    check_float("strength", strength, 0.0, 1.0)
    if strength <= 0.0:
        raise invalid("strength", strength, "must be in (0, 1]: the share of the steps run from the source")
    check_float("motion_hold", motion_hold, 0.0, 1.0)
    return float(strength), float(motion_hold)
