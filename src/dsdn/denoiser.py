"""DualStreamDenoiser: the one place where both UNets and the interaction run together.

Both streams start from their own noisy latents and share one timestep. The content UNet and
the motion UNet advance one level, the interaction block of that level exchanges their states,
and so on through every down level, the middle and every up level. The result is one noise
prediction per stream. This module also declares, in one place, what DSDN trains.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from diffusers import UNet3DConditionModel

from .content_stream import ContentStream
from .frame_vae import unfold_frames
from .interaction import DualStreamInteraction
from .step_cache import StepCache
from .unet_levels import UNet3DLevels

if TYPE_CHECKING:
    from .adapter import DSDNAdapter


class DualStreamDenoiser(torch.nn.Module):
    """Content stream + motion stream + interaction, run in lockstep.

    Args:
        content: the frozen base UNet with its LoRA increment.
        motion_unet: the motion stream.
        interaction: cross-stream blocks, one per paired level (``None``: no interaction,
            an ablation).
        motion_text_embedding: the motion stream's pooled text embedding
            (:class:`~dsdn.motion_stream.MotionTextEmbedding`), or ``None``.
    """

    def __init__(
        self,
        content: ContentStream,
        motion_unet: UNet3DConditionModel,
        interaction: DualStreamInteraction | None,
        motion_text_embedding: torch.nn.Module | None = None,
    ):
        super().__init__()
        self.content = content
        self.motion_unet = motion_unet
        self.interaction = interaction
        self.motion_text_embedding = motion_text_embedding
        n_c = len(content.unet.down_blocks) + len(content.unet.up_blocks)
        n_m = len(motion_unet.down_blocks) + len(motion_unet.up_blocks)
        if n_c != n_m:
            raise ValueError(f"content UNet has {n_c} down+up levels, motion UNet {n_m}: they cannot be paired")
        if interaction is not None and len(interaction.blocks) != n_c + 1:
            raise ValueError(f"interaction has {len(interaction.blocks)} blocks, expected {n_c + 1}")

    @classmethod
    def from_adapter(
        cls, content: ContentStream, adapter: DSDNAdapter, use_interaction: bool = True
    ) -> DualStreamDenoiser:
        """The denoiser over ``content`` and the adapter's motion stream, interaction and pooled text
        embedding (``use_interaction=False``: the no-interaction ablation)."""
        interaction = adapter.interaction if use_interaction else None
        return cls(content, adapter.motion_unet, interaction, adapter.motion_text_embedding)

    def trainable_parameters(self) -> Iterator[tuple[str, torch.nn.Parameter]]:
        """THE declaration of what DSDN trains: content LoRA, motion stream (with its pooled text
        embedding, when it has one), interaction.

        Everything else (VAE, text encoder, content base UNet) stays frozen.
        """
        for name, p in self.content.lora_parameters():
            yield f"content.unet.{name}", p
        for name, p in self.motion_unet.named_parameters():
            yield f"motion_unet.{name}", p
        if self.motion_text_embedding is not None:
            for name, p in self.motion_text_embedding.named_parameters():
                yield f"motion_text_embedding.{name}", p
        if self.interaction is not None:
            for name, p in self.interaction.named_parameters():
                yield f"interaction.{name}", p

    def set_trainable(self, content_lora: bool = True) -> list[torch.nn.Parameter]:
        """Freeze everything, then unfreeze exactly :meth:`trainable_parameters` (without the content LoRA
        when ``content_lora`` is False: the motion parts alone learn, as AnimateDiff trains its motion modules);
        returns them."""
        self.requires_grad_(False)
        params = [p for n, p in self.trainable_parameters() if content_lora or not n.startswith("content.")]
        for p in params:
            p.requires_grad_(True)
        return params

    def forward(
        self,
        content_latents: torch.Tensor,
        motion_latents: torch.Tensor,
        timestep: torch.Tensor,
        text: torch.Tensor,
        motion_text: torch.Tensor | None = None,
        lora_scale: float = 1.0,
        cross_frame: bool = False,
        cross_attention_kwargs: dict | None = None,
        cache: StepCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict both streams' noise.

        Args:
            content_latents: noisy content latents ``(B, C, F, h, w)``.
            motion_latents: noisy motion latents ``(B, C, F, h, w)``.
            timestep: ``(B,)`` (or a scalar), shared by both streams.
            text: text states for the content stream ``(B, L, D)``, or per frame ``(B, F, L, D)`` (prompt travel).
            motion_text: text states for the motion stream ``(B, L', D)``; default ``text``.
            lora_scale: λ, the content increment's step length.
            cross_frame: the content stream's self-attention reads each clip's first frame
                (:meth:`~dsdn.content_stream.ContentStream.cross_frame`).
            cross_attention_kwargs: passed to the content UNet's attention processors (the motion
                stream's UNet3D takes none).
            cache: a :class:`~dsdn.step_cache.StepCache`: on its cached steps both streams run only their shallow
                levels and take the deep features kept at its last full step.

        Returns:
            ``(content_noise, motion_noise)``, each ``(B, C, F, h, w)``.
        """
        b, _, f = content_latents.shape[:3]
        if motion_latents.shape[:3] != content_latents.shape[:3]:
            raise ValueError(
                f"content {tuple(content_latents.shape)} and motion {tuple(motion_latents.shape)} latents "
                "must share batch and frame count"
            )
        timestep = torch.as_tensor(timestep, device=content_latents.device)
        if timestep.ndim == 0:
            timestep = timestep.expand(b)
        motion_text = text if motion_text is None else motion_text
        with self.content.lora_scale(lora_scale), self.content.cross_frame(f, cross_frame):
            c = self.content.levels(content_latents, timestep, text, cross_attention_kwargs)
            pooled = (
                None
                if self.motion_text_embedding is None
                else self.motion_text_embedding(
                    motion_text.flatten(0, 1) if motion_text.dim() == 4 else motion_text  # per frame: (B·F, D_t)
                )
            )
            m = UNet3DLevels(self.motion_unet, motion_latents, timestep, motion_text, added_emb=pooled)
            levels = [("down", i) for i in range(c.num_down)] + [("mid", None)] + [("up", i) for i in range(c.num_up)]
            key = None if cache is None else cache.next_key()
            shapes = (tuple(content_latents.shape), tuple(motion_latents.shape))
            deep = None if cache is None else cache.cached(key, shapes)
            resume = c.num_up - (0 if cache is None else cache.depth)  # the first up level a cached step runs
            for level, (kind, i) in enumerate(levels):
                if deep is not None and (kind == "mid" or (kind == "down" and i >= cache.depth) or
                                         (kind == "up" and i < resume)):  # fmt: skip
                    continue  # a deep level: its features come from the cache
                hc = c.mid() if kind == "mid" else getattr(c, kind)(i)  # (B·F, C_c, h, w)
                hm = m.mid() if kind == "mid" else getattr(m, kind)(i)  # (B·F, C_m, h, w)
                last_shallow_down = deep is not None and kind == "down" and i == cache.depth - 1
                if self.interaction is not None and not last_shallow_down:  # (its exchange would only go deeper)
                    c.h, m.h = self.interaction(level, hc, hm, f)
                if cache is not None and kind == "up" and i == resume - 1:
                    cache.keep(key, shapes, c.h, m.h)
                if last_shallow_down:
                    c.resume_up(resume, deep[0])
                    m.resume_up(resume, deep[1])
            content_noise = unfold_frames(c.finish(), f)  # (B·F, C, h, w) -> (B, C, F, h, w)
        return content_noise, m.finish()
