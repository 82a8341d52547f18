"""FrameVAE: the frame-wise, frozen image autoencoder of the paper.

DSDN denoises video in the latent space of a pretrained image VAE applied to each frame on its
own. This wrapper folds frames into the batch, applies the VAE's own ``scaling_factor`` (never a
hard-coded constant) and decodes in chunks of frames to bound memory.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL


def fold_frames(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, F, H, W)`` -> ``(B·F, C, H, W)``, frame index fastest."""
    b, c, f, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)


def unfold_frames(x: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``(B·F, C, H, W)`` -> ``(B, C, F, H, W)``; inverse of :func:`fold_frames`."""
    n, c, h, w = x.shape
    return x.reshape(n // num_frames, num_frames, c, h, w).permute(0, 2, 1, 3, 4)


class FrameVAE:
    """Frame-wise encode/decode with a frozen :class:`~diffusers.AutoencoderKL`.

    Args:
        vae: the image autoencoder (kept frozen; this wrapper never changes its weights).
        chunk_size: frames per VAE call in :meth:`decode` and :meth:`encode`.
    """

    def __init__(self, vae: AutoencoderKL, chunk_size: int = 16):
        self.vae = vae
        self.chunk_size = max(1, int(chunk_size))

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def shift_factor(self) -> float:
        return float(getattr(self.vae.config, "shift_factor", None) or 0.0)

    @property
    def scale_factor(self) -> int:
        """Pixels per latent pixel (8 for SD-1.x)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @torch.no_grad()
    def encode(
        self, video: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True
    ) -> torch.Tensor:
        """Pixels ``(B, 3, F, H, W)`` in [-1, 1] -> scaled latents ``(B, C, F, H/s, W/s)``.

        ``sample=True`` draws from the posterior (as in SD training), else takes its mode.
        """
        f = video.shape[2]
        frames = fold_frames(video.to(self.vae.dtype))  # (B·F, 3, H, W)
        out = []
        for chunk in frames.split(self.chunk_size):
            dist = self.vae.encode(chunk).latent_dist
            out.append(dist.sample(generator) if sample else dist.mode())
        z = torch.cat(out)  # (B·F, C, h, w)
        z = (z - self.shift_factor) * self.scaling_factor
        return unfold_frames(z, f)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """Scaled latents ``(B, C, F, h, w)`` -> pixels ``(B, 3, F, H, W)`` in about [-1, 1].

        ``chunk_size`` overrides the frames per VAE call for this call only.
        """
        f = latents.shape[2]
        z = fold_frames(latents) / self.scaling_factor + self.shift_factor  # (B·F, C, h, w)
        z = z.to(self.vae.dtype)
        frames = torch.cat([self.vae.decode(chunk).sample for chunk in z.split(chunk_size or self.chunk_size)])
        return unfold_frames(frames, f)
