"""Evaluation: video metrics (flicker, dynamic degree, consistency, Fréchet distance, CLIP),
toy-world attribute judges (motion direction, colour, visibility) and the object-classifier judge.

Its names load when first used, so that a command's config (e.g. ``evaluation.speed.SpeedConfig``) can be
imported without numpy or torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("clip_frame_consistency", "clip_text_alignment", "dynamic_degree", "frame_consistency",
                     "frechet_distance", "mean_flow", "static_flicker", "warping_error"), "metrics"),
    **dict.fromkeys(("ClipJudgement", "judge_clip", "motion_vector", "object_colour", "object_mask"), "toy"),
}  # fmt: skip
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


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
