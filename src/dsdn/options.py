"""The closed choices of sampling options, importable without torch (``dsdn generate`` checks them
before any heavy library loads)."""

from __future__ import annotations

#: Motion combiners (:mod:`dsdn.motion_codec`).
COMBINERS = ("causal", "least_squares")
