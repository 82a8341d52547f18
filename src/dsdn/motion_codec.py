"""Motion decomposer and motion combiner.

The paper adopts a channel-wise motion module (citing STM) to turn content latents into motion
latents, and a combiner that folds generated motion back into generated content. The concrete
operators are *our* choice (DESIGN.md §3), parameter-free and exactly invertible:

* decomposer: ``m_1 = 0``, ``m_l = s_m · (z_l − z_{l−1})`` for ``l ≥ 2``. ``s_m`` is estimated
  once on training data so that motion latents have about unit variance
  (:func:`estimate_motion_scale`) and is stored in the model config.
* combiner, a complementary filter: ``ẑ_1 = c_1``,
  ``ẑ_l = (1−γ)·c_l + γ·(ẑ_{l−1} + m_l / s_m)``. ``γ = 0`` is pure content (frame-wise),
  ``γ = 1`` integrates motion from frame 1; when content and motion agree the result is exact.

Tensors are ``(B, C, F, h, w)``; frames are dimension 2.
"""

from __future__ import annotations

import torch

from .errors import invalid


def _check_scale(motion_scale: float) -> float:
    s = float(motion_scale)
    if not (s > 0.0 and s < float("inf")):
        raise invalid("motion_scale", motion_scale, "must be a finite number > 0")
    return s


def decompose_motion(content: torch.Tensor, motion_scale: float = 1.0) -> torch.Tensor:
    """Content latents ``(B, C, F, h, w)`` -> motion latents of the same shape (first frame 0)."""
    s = _check_scale(motion_scale)
    motion = torch.zeros_like(content)
    motion[:, :, 1:] = s * (content[:, :, 1:] - content[:, :, :-1])
    return motion


def combine_motion(
    content: torch.Tensor, motion: torch.Tensor, motion_scale: float = 1.0, coherence: float = 0.5
) -> torch.Tensor:
    """Fold motion into content with coherence ``γ`` in [0, 1]; returns ``(B, C, F, h, w)``."""
    s = _check_scale(motion_scale)
    g = float(coherence)
    if not 0.0 <= g <= 1.0:
        raise invalid("motion_coherence", coherence, "must be a number in [0, 1]")
    if content.shape != motion.shape:
        raise ValueError(f"content {tuple(content.shape)} and motion {tuple(motion.shape)} shapes differ")
    if g == 0.0:
        return content
    frames = [content[:, :, 0]]
    for l in range(1, content.shape[2]):
        frames.append((1.0 - g) * content[:, :, l] + g * (frames[-1] + motion[:, :, l] / s))
    return torch.stack(frames, dim=2)


@torch.no_grad()
def estimate_motion_scale(content_latents: torch.Tensor) -> float:
    """``s_m`` such that the decomposed motion of these latents ``(B, C, F, h, w)`` has unit std."""
    diffs = content_latents[:, :, 1:] - content_latents[:, :, :-1]
    std = float(diffs.float().std())
    if not std > 0.0:
        raise ValueError("cannot estimate the motion scale: the latents do not change between frames")
    return 1.0 / std


class MotionDecomposer(torch.nn.Module):
    """Module form of :func:`decompose_motion` (no parameters; ``s_m`` is a buffer-free float)."""

    def __init__(self, motion_scale: float = 1.0):
        super().__init__()
        self.motion_scale = _check_scale(motion_scale)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return decompose_motion(content, self.motion_scale)


class MotionCombiner(torch.nn.Module):
    """Module form of :func:`combine_motion`; ``coherence`` (γ) is the default, overridable per call."""

    def __init__(self, motion_scale: float = 1.0, coherence: float = 0.5):
        super().__init__()
        self.motion_scale = _check_scale(motion_scale)
        self.coherence = float(coherence)

    def forward(self, content: torch.Tensor, motion: torch.Tensor, coherence: float | None = None) -> torch.Tensor:
        g = self.coherence if coherence is None else coherence
        return combine_motion(content, motion, self.motion_scale, g)
