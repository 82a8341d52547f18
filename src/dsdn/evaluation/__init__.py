"""Evaluation: video metrics (flicker, dynamic degree, consistency, Fréchet distance, CLIP),
toy-world attribute judges (motion direction, colour, visibility) and the object-classifier judge.

Its names load when first used, so that a command's config (e.g. ``evaluation.speed.SpeedConfig``) can be
imported without numpy or torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    **dict.fromkeys(("clip_frame_consistency", "clip_text_alignment", "dynamic_degree", "frame_consistency",
                     "frechet_distance", "mean_flow", "static_flicker", "warping_error"), "metrics"),
    **dict.fromkeys(("ClipJudgement", "judge_clip", "motion_vector", "object_colour", "object_mask"), "toy"),
}  # fmt: skip
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:  # for type checkers and editors; at run time __getattr__ imports them
    from .metrics import (  # noqa: F401
        clip_frame_consistency,
        clip_text_alignment,
        dynamic_degree,
        frame_consistency,
        frechet_distance,
        mean_flow,
        static_flicker,
        warping_error,
    )
    from .toy import ClipJudgement, judge_clip, motion_vector, object_colour, object_mask  # noqa: F401
