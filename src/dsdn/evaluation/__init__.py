"""Evaluation: toy-world attribute judges (motion direction, colour, visibility)."""

from .toy import ClipJudgement, judge_clip, motion_vector, object_mask, object_colour

__all__ = ["ClipJudgement", "judge_clip", "motion_vector", "object_mask", "object_colour"]
