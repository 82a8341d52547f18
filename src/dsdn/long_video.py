"""Long videos: overlapping context windows on both streams, fused at every denoising step (FreeNoise-style).

A clip longer than the frames a model was trained on (or than its motion stream can encode) is denoised window by
window: at every step both UNets see ``length`` frames at a time, windows ``stride`` frames apart, and each frame's
noise prediction is the weighted mean over the windows that hold it (weights peak in a window's middle, so a seam is
a blend rather than a cut). Everything that acts on the whole clip still does: stream sync and its combiner, object
carry, the scheduler's update. The initial noise of the frames after the first window re-uses the first windows'
noise, shuffled within each stride (FreeNoise, Qiu et al. 2023), so every window starts from noise of the same kind.
With ``anchor`` *(ours)*, every later window also holds the clip's frame 1 as its first frame (its predictions for it
are dropped): the content stream's cross-frame attention then reads the clip's frame 1 in every window, not each
window's own first frame, so no window settles on another background or look. With ``loop`` *(ours)*, windows wrap
around the clip's end (the last window holds the last frames, then the first ones), so the last frame is denoised as
the one before the first and the clip plays as a loop; every frame is then in the same number of windows.
"""

from __future__ import annotations

import torch

from .errors import check_choice, check_int, invalid

WEIGHTINGS = ("pyramid", "flat")


def window_starts(num_frames: int, length: int, stride: int) -> list[int]:
    """First frames of the windows that cover ``num_frames`` (the last one ends at the clip's last frame)."""
    if num_frames <= length:
        return [0]
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] != num_frames - length:
        starts.append(num_frames - length)
    return starts


def window_weights(length: int, weighting: str = "pyramid") -> torch.Tensor:
    """``(length,)`` weights of a window's frames: ``"pyramid"`` rises to the middle and falls (1, 2, …, 2, 1),
    ``"flat"`` is all ones."""
    if weighting == "flat":
        return torch.ones(length)
    k = torch.arange(length, dtype=torch.float32)
    return torch.minimum(k + 1, length - k)


class ContextWindows:
    """Denoise a clip in overlapping windows of ``length`` frames, ``stride`` apart."""

    def __init__(self, num_frames: int, length: int, stride: int | None = None, weighting: str = "pyramid",
                 anchor: bool = False, loop: bool = False):  # fmt: skip
        check_int("context_frames", length, 2)
        check_choice("weighting", weighting, WEIGHTINGS)
        stride = max(1, length // 2) if stride is None else stride
        check_int("context_stride", stride, 1, length)
        if loop and num_frames <= length:
            raise invalid("loop", loop, f"needs num_frames above context_frames={length} (windows that wrap around)")
        self.num_frames, self.length, self.stride = num_frames, min(length, num_frames), stride
        self.starts = list(range(0, num_frames, stride)) if loop else window_starts(num_frames, self.length, stride)
        self.weights = window_weights(self.length, weighting)
        self.anchor, self.loop = bool(anchor), bool(loop)

    def __len__(self) -> int:
        return len(self.starts)

    def __call__(
        self, denoiser, z: torch.Tensor, m: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``denoiser(z, m, *args, **kwargs)`` run on every window of ``z`` and ``m`` ``(B, C, F, h, w)`` and fused;
        per-frame text states ``(B, F, L, D)`` among ``args`` (prompt travel) are cut to each window's frames."""
        if len(self.starts) == 1:
            return denoiser(z, m, *args, **kwargs)
        eps_c, eps_m = torch.zeros_like(z, dtype=torch.float32), torch.zeros_like(m, dtype=torch.float32)
        total = torch.zeros(self.num_frames, device=z.device)
        w = self.weights.to(z.device)
        for s in self.starts:
            part = torch.arange(s, s + self.length, device=z.device) % self.num_frames  # wraps only with loop
            if self.anchor and not bool((part == 0).any()):  # the clip's frame 1 first, its predictions dropped
                frames = torch.cat([torch.zeros(1, dtype=torch.long, device=z.device), part])
                c, mo = denoiser(z[:, :, frames], m[:, :, frames], *_frames_of(args, frames), **kwargs)
                c, mo = c[:, :, 1:], mo[:, :, 1:]
            else:
                c, mo = denoiser(z[:, :, part], m[:, :, part], *_frames_of(args, part), **kwargs)
            eps_c.index_add_(2, part, w.view(1, 1, -1, 1, 1) * c.float())
            eps_m.index_add_(2, part, w.view(1, 1, -1, 1, 1) * mo.float())
            total.index_add_(0, part, w)
        total = total.view(1, 1, -1, 1, 1)
        return (eps_c / total).to(z.dtype), (eps_m / total).to(m.dtype)

    def shuffle_noise(self, x: torch.Tensor, generator: torch.Generator | list | None = None) -> torch.Tensor:
        """FreeNoise's noise re-use: frames from ``length`` on take the noise of the ``stride`` frames a window
        before them, in a shuffled order (``x``: ``(B, C, F, h, w)``, returned as a new tensor)."""
        if len(self.starts) == 1:
            return x
        gen = generator[0] if isinstance(generator, list) else generator
        out = x.clone()
        for i in range(self.length, self.num_frames, self.stride):
            src = torch.arange(i - self.length, i - self.length + self.stride)
            src = src[torch.randperm(self.stride, generator=gen, device=gen.device if gen is not None else "cpu").cpu()]
            count = min(self.stride, self.num_frames - i)
            out[:, :, i : i + count] = out[:, :, src[:count].to(x.device)]
        return out


def _frames_of(args: tuple, frames) -> tuple:
    """``args`` with each per-frame text tensor ``(B, F, L, D)`` cut to ``frames`` (a slice or an index)."""
    return tuple(a[:, frames] if isinstance(a, torch.Tensor) and a.dim() == 4 else a for a in args)
