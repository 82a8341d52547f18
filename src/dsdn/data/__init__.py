"""Data for DSDN: the deterministic toy world of captioned videos."""

from .toy_world import COLOURS, HELDOUT_COMBOS, MOTIONS, OBJECTS, ClipSpec, ToyWorld, caption_for, render_clip

__all__ = ["COLOURS", "HELDOUT_COMBOS", "MOTIONS", "OBJECTS", "ClipSpec", "ToyWorld", "caption_for", "render_clip"]
