"""Evaluation: video metrics (flicker, dynamic degree, consistency, Fréchet distance, CLIP),
toy-world attribute judges (motion direction, colour, visibility) and the object-classifier judge."""

from .metrics import (
    clip_frame_consistency,
    clip_text_alignment,
    dynamic_degree,
    frame_consistency,
    frechet_distance,
    mean_flow,
    static_flicker,
    warping_error,
)
from .toy import ClipJudgement, judge_clip, motion_vector, object_colour, object_mask

__all__ = [
    "ClipJudgement", "judge_clip", "motion_vector", "object_mask", "object_colour", "clip_frame_consistency",
    "clip_text_alignment", "dynamic_degree", "frame_consistency", "frechet_distance", "mean_flow", "static_flicker",
    "warping_error",
]  # fmt: skip
