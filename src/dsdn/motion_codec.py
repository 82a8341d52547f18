"""Motion decomposer and motion combiner.

The paper adopts a channel-wise motion module (citing STM) to turn content latents into motion
latents, and a combiner that folds generated motion back into generated content. The concrete
operators are *our* choice (docs/design.md), parameter-free and exactly invertible:

* decomposer: ``m_1 = 0``, ``m_l = s_m · (z_l − z_{l−1})`` for ``l ≥ 2``. ``s_m`` is estimated
  once on training data so that motion latents have about unit variance
  (:func:`estimate_motion_scale`) and is stored in the model config.
* combiner, ``"causal"`` (the starting design's complementary filter): ``ẑ_1 = c_1``,
  ``ẑ_l = (1−γ)·c_l + γ·(ẑ_{l−1} + m_l / s_m)``. ``γ = 0`` is pure content (frame-wise),
  ``γ = 1`` integrates motion from frame 1.
* combiner, ``"least_squares"`` (*ours*): the video closest to both streams at once,
  ``ẑ = argmin_v (1−γ)·Σ_l ‖v_l − c_l‖² + γ·Σ_{l≥2} ‖v_l − v_{l−1} − m_l / s_m‖²``, a
  tridiagonal ``F×F`` solve shared by every latent pixel. The causal filter takes frame 1 from
  the content stream as drawn, so a dim or misplaced first content frame starts the video; here
  every frame weighs all content frames. ``γ = 0`` is pure content; ``γ = 1`` (the limit)
  integrates motion, offset so that its mean over frames is the content's.

Both are exact when content and motion agree (``m = decompose(c)``).

With ``circular`` *(ours, for looping clips)* frame 1 follows frame F: the decomposer gives
``m_1 = s_m · (z_1 − z_F)``, and the least-squares combiner also asks ``v_1 − v_F`` to match it, so the
step from the last frame to the first is solved like every other step (at ``γ = 1`` the steps of a
path that does not close are corrected evenly around the loop). The causal combiner ignores ``m_1``.

Tensors are ``(B, C, F, h, w)``; frames are dimension 2.
"""

from __future__ import annotations

import torch

from .errors import check_choice, invalid
from .options import COMBINERS


def check_motion_scale(motion_scale: float) -> float:
    s = float(motion_scale)
    if not (s > 0.0 and s < float("inf")):
        raise invalid("motion_scale", motion_scale, "must be a finite number > 0")
    return s


def decompose_motion(content: torch.Tensor, motion_scale: float = 1.0, circular: bool = False) -> torch.Tensor:
    """Content latents ``(B, C, F, h, w)`` -> motion latents of the same shape (first frame 0; with ``circular``,
    the step from the last frame to the first)."""
    s = check_motion_scale(motion_scale)
    if circular:
        return s * (content - content.roll(1, dims=2))
    motion = torch.zeros_like(content)
    motion[:, :, 1:] = s * (content[:, :, 1:] - content[:, :, :-1])
    return motion


def combine_motion(
    content: torch.Tensor,
    motion: torch.Tensor,
    motion_scale: float = 1.0,
    coherence: float = 0.5,
    combiner: str = "causal",
    circular: bool = False,
) -> torch.Tensor:
    """Fold motion into content with coherence ``γ`` in [0, 1] by ``combiner`` (one of
    :data:`COMBINERS`, see the module docstring; ``circular``: frame 1 follows the last); returns
    ``(B, C, F, h, w)``."""
    s = check_motion_scale(motion_scale)
    g = float(coherence)
    if not 0.0 <= g <= 1.0:
        raise invalid("motion_coherence", coherence, "must be a number in [0, 1]")
    check_choice("combiner", combiner, COMBINERS)
    if content.shape != motion.shape:
        raise ValueError(f"content {tuple(content.shape)} and motion {tuple(motion.shape)} shapes differ")
    if g == 0.0:
        return content
    if combiner == "least_squares":
        return _least_squares(content, motion / s, g, circular)
    frames = [content[:, :, 0]]
    for k in range(1, content.shape[2]):
        frames.append((1.0 - g) * content[:, :, k] + g * (frames[-1] + motion[:, :, k] / s))
    return torch.stack(frames, dim=2)


def _least_squares(content: torch.Tensor, steps: torch.Tensor, g: float, circular: bool = False) -> torch.Tensor:
    """The ``"least_squares"`` combiner for ``0 < γ <= 1``; ``steps`` is ``m / s_m`` (frame 1's is used only when
    ``circular``)."""
    f = content.shape[2]
    eye = torch.eye(f, dtype=torch.float64)
    if circular:  # (F, F): v_l - v_{l-1}, and v_1 - v_F
        diff = eye - eye.roll(-1, dims=1)
    else:  # (F-1, F): v_l - v_{l-1}
        diff, steps = eye[1:] - eye[:-1], steps[:, :, 1:]
    if g == 1.0:  # the limit: integrated motion (least squares), offset to the content's mean over frames
        if not circular:
            path = torch.cat([torch.zeros_like(steps[:, :, :1]), steps.cumsum(2)], dim=2)
            return path + (content - path).mean(dim=2, keepdim=True)
        integrate = torch.linalg.pinv(diff.T @ diff) @ diff.T  # zero-mean path closest to the steps
        path = torch.einsum("gk,bckhw->bcghw", integrate.to(content), steps)
        return path + content.mean(dim=2, keepdim=True)
    # Normal equations: ((1-γ)·I + γ·DᵀD) v = (1-γ)·c + γ·Dᵀ(m/s), solved once for all pixels.
    solve = torch.linalg.inv((1.0 - g) * eye + g * diff.T @ diff)
    content_part = ((1.0 - g) * solve).to(content)
    motion_part = (g * solve @ diff.T).to(content)  # (F, steps), applied to the motion's steps
    return torch.einsum("gf,bcfhw->bcghw", content_part, content) + torch.einsum("gk,bckhw->bcghw", motion_part, steps)


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
        self.motion_scale = check_motion_scale(motion_scale)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return decompose_motion(content, self.motion_scale)


class MotionCombiner(torch.nn.Module):
    """Module form of :func:`combine_motion`; ``coherence`` (γ) is the default, overridable per call."""

    def __init__(self, motion_scale: float = 1.0, coherence: float = 0.5, combiner: str = "causal"):
        super().__init__()
        self.motion_scale = check_motion_scale(motion_scale)
        self.coherence = float(coherence)
        check_choice("combiner", combiner, COMBINERS)
        self.combiner = combiner

    def forward(self, content: torch.Tensor, motion: torch.Tensor, coherence: float | None = None) -> torch.Tensor:
        g = self.coherence if coherence is None else coherence
        return combine_motion(content, motion, self.motion_scale, g, self.combiner)


def agree_streams(
    content: torch.Tensor,
    motion: torch.Tensor,
    motion_scale: float,
    coherence: float,
    combiner: str,
    strength: float = 1.0,
    circular: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pull a content and a motion prediction ``(B, C, F, h, w)`` onto the one video the combiner makes of them.

    Returns ``(c', m')`` with ``c' = (1−w)·c + w·v`` and ``m' = (1−w)·m + w·decompose(v)``, where
    ``v = combine(c, m)`` and ``w`` is ``strength``; at ``w = 1`` the two streams agree exactly, so
    combining them again returns ``v``. The pipeline applies this to both streams' predicted clean
    latents at every denoising step (``stream_sync``), so that the streams are denoised towards
    one video instead of being reconciled only at the end, where their disagreement would be
    left in the video as a negative copy of the object (a ghost in the complementary colour).
    ``circular``: frame 1 follows the last (a looping clip).
    """
    w = float(strength)
    if not 0.0 <= w <= 1.0:
        raise invalid("stream_sync", strength, "must be a number in [0, 1]")
    video = combine_motion(content, motion, motion_scale, coherence, combiner, circular)
    return content + w * (video - content), motion + w * (decompose_motion(video, motion_scale, circular) - motion)
