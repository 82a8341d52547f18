"""A step cache for both streams (*ours*, after DeepCache, Ma et al. 2023): reuse the deep levels' features.

Between neighbouring denoising steps the deep, low-resolution levels of a UNet change little; the shallow,
full-resolution levels carry the detail that changes. DeepCache runs the whole UNet every ``interval`` steps and, on
the steps between, only the first ``depth`` down levels and the last ``depth`` up levels, taking what the deeper
levels handed up at the last full step. DSDN has two UNets that exchange their states after every level; here both
streams are cached together, at the same depth: on a cached step both run their shallow levels, the interaction
blocks of those levels still exchange their states, and both take their own deep features of the last full step.

diffusers offers step caches for transformer video models only (FasterCache, PAB, FirstBlockCache); this one works
on the level-by-level replay of both UNets (:mod:`dsdn.unet_levels`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .options import check_cache_options

if TYPE_CHECKING:
    import torch


@dataclass
class StepCache:
    """The cache of one sampling call.

    Args:
        interval: a full step every ``interval`` steps (1: every step is full, the cache is off).
        depth: how many levels at each end run on cached steps (1: the first down and the last up level).
        max_depth: the deepest ``depth`` the UNets allow (one less than their down levels).
    """

    interval: int
    depth: int = 1
    max_depth: int | None = None
    step: int = -1
    _call: int = 0
    _store: dict = field(default_factory=dict)

    def __post_init__(self):
        check_cache_options(self.interval, self.depth, self.max_depth)

    @property
    def enabled(self) -> bool:
        return self.interval > 1

    def begin_step(self, index: int) -> None:
        """Start denoising step ``index`` (0 for the first); a full step every :attr:`interval` from there."""
        self.step, self._call = int(index), 0

    def next_key(self) -> int:
        """The key of the next denoiser call within this step (context windows call it once per window)."""
        key, self._call = self._call, self._call + 1
        return key

    def cached(self, key: int, shapes: tuple) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The deep features stored for ``key`` when this step may reuse them and they fit ``shapes``, else None."""
        if not self.enabled or self.step % self.interval == 0:
            return None
        entry = self._store.get(key)
        return entry[1] if entry is not None and entry[0] == shapes else None

    def keep(self, key: int, shapes: tuple, content: torch.Tensor, motion: torch.Tensor) -> None:
        if self.enabled:
            self._store[key] = (shapes, (content, motion))
