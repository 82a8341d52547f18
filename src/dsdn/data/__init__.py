"""Data for DSDN: the deterministic toy world of captioned videos, and folders of real videos."""

from .toy_world import (
    COLOURS,
    HELDOUT_COMBOS,
    MOTIONS,
    OBJECTS,
    VERSIONS,
    ClipSpec,
    ToyWorld,
    caption_for,
    render_clip,
    vocabulary,
    write_video_folder,
)
from .video_folder import VideoFolder, next_readable

__all__ = [
    "COLOURS", "HELDOUT_COMBOS", "MOTIONS", "OBJECTS", "VERSIONS", "ClipSpec", "ToyWorld", "VideoFolder",
    "caption_for", "next_readable", "render_clip", "vocabulary", "write_video_folder",
]  # fmt: skip
