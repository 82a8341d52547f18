"""MotionStream: the paper's 3D UNet that denoises motion latents.

A diffusers :class:`~diffusers.UNet3DConditionModel`: per-frame spatial convolutions and
attention plus temporal convolutions and temporal attention, text-conditioned by
cross-attention at every attention level. Its level structure is derived from the content UNet
(same number of levels, same resolutions, same cross-attention width) so the two pair level by
level; channel widths may differ.

Our choice: it can be *inflated* from the content base — every spatial weight whose name and
shape match is copied; temporal layers keep their own initialisation. The text cross-attention
(``attn2``) can be left out of the copy: the base learned it on still frames, where motion words
carry nothing to see.

Also ours: an optional *pooled text embedding* (:class:`MotionTextEmbedding`). Cross-attention
gives each spatial position a softmax-weighted mix of the caption's tokens; a clip-wide
property such as the direction of motion must then survive that mix at every position. The
pooled embedding hands the stream the caption once per clip instead, added to its timestep
embedding so that it reaches every resnet of every level (as SDXL's pooled text and
diffusers' ``class_embed_type="projection"`` do). Its output layer starts at zero, so a new
one leaves the 3D UNet's prediction unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from diffusers import UNet2DConditionModel, UNet3DConditionModel
from diffusers.models.embeddings import TimestepEmbedding

logger = logging.getLogger(__name__)

_BLOCK_2D_TO_3D = {
    "CrossAttnDownBlock2D": "CrossAttnDownBlock3D",
    "DownBlock2D": "DownBlock3D",
    "CrossAttnUpBlock2D": "CrossAttnUpBlock3D",
    "UpBlock2D": "UpBlock3D",
}


def motion_unet_config(
    content_config,
    block_out_channels: Sequence[int] | None = None,
    layers_per_block: int | None = None,
    num_heads: int = 8,
    norm_num_groups: int | None = None,
    top_attention: bool = True,
) -> dict:
    """A :class:`UNet3DConditionModel` config whose levels pair with ``content_config``'s.

    Args:
        content_config: the content UNet's config (``unet.config``).
        block_out_channels: motion widths per level (default: the content widths).
        layers_per_block: default: the content UNet's.
        num_heads: attention heads (diffusers' UNet3D calls this ``attention_head_dim``).
        norm_num_groups: default: the content UNet's; must divide every width.
        top_attention: ``False`` drops the spatial and temporal transformers of the
            highest-resolution level (its resnets and temporal convolutions stay); they cost most
            there, and the lower levels still see the text and attend over time.
    """
    down = [_BLOCK_2D_TO_3D.get(t) for t in content_config.down_block_types]
    up = [_BLOCK_2D_TO_3D.get(t) for t in content_config.up_block_types]
    if None in down or None in up:
        raise ValueError(
            f"cannot pair a motion UNet with content blocks {content_config.down_block_types} / "
            f"{content_config.up_block_types}: supported are {sorted(_BLOCK_2D_TO_3D)}"
        )
    if not top_attention:
        down[0] = "DownBlock3D"
        up[-1] = "UpBlock3D"
    channels = list(block_out_channels or content_config.block_out_channels)
    if len(channels) != len(down):
        raise ValueError(f"motion block_out_channels {channels} must have {len(down)} entries, one per level")
    groups = norm_num_groups or content_config.norm_num_groups
    bad = [c for c in channels if c % groups]
    if bad:
        raise ValueError(f"norm_num_groups={groups} must divide every motion width; {bad} are not divisible")
    lpb = content_config.layers_per_block
    return dict(
        sample_size=content_config.sample_size,
        in_channels=content_config.in_channels,
        out_channels=content_config.out_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=channels,
        layers_per_block=int(layers_per_block or (lpb if isinstance(lpb, int) else lpb[0])),
        norm_num_groups=groups,
        cross_attention_dim=content_config.cross_attention_dim,
        attention_head_dim=num_heads,
    )


@torch.no_grad()
def inflate_from_content(
    motion_unet: UNet3DConditionModel, content_unet: UNet2DConditionModel, cross_attention: bool = True
) -> list[str]:
    """Copy every content weight whose name and shape match into the motion UNet; returns their names.

    ``cross_attention=False`` leaves the text cross-attention (``attn2``) at its fresh initialisation.
    """
    target = motion_unet.state_dict()
    copied = []
    for name, value in content_unet.state_dict().items():
        name = name.replace(".base_layer.", ".")  # a LoRA-wrapped base keeps its weights under base_layer
        if "lora_" in name or name not in target or target[name].shape != value.shape:
            continue
        if not cross_attention and ".attn2." in name:
            continue
        target[name].copy_(value)
        copied.append(name)
    logger.info("inflated %d of %d motion UNet tensors from the content base", len(copied), len(target))
    return copied


def build_motion_unet(
    content_unet: UNet2DConditionModel, inflate: bool = False, **config_overrides
) -> UNet3DConditionModel:
    """Create the motion stream for ``content_unet`` (optionally inflated from its weights)."""
    motion = UNet3DConditionModel(**motion_unet_config(content_unet.config, **config_overrides))
    if inflate:
        inflate_from_content(motion, content_unet)
    return motion


class MotionTextEmbedding(torch.nn.Module):
    """Text states ``(B, L, D)`` -> an offset ``(B, E)`` for the motion stream's timestep embedding.

    ``num_queries`` learned queries attend over the caption's tokens (attention pooling, so the
    module can pick the informative tokens rather than average them); their pooled states,
    concatenated, go through diffusers' :class:`TimestepEmbedding` MLP, whose output layer is
    zero-initialised.
    """

    def __init__(self, text_dim: int, embed_dim: int, num_queries: int = 4):
        super().__init__()
        self.query = torch.nn.Parameter(torch.randn(num_queries, text_dim) / text_dim**0.5)
        self.key = torch.nn.Linear(text_dim, text_dim)
        self.mlp = TimestepEmbedding(num_queries * text_dim, embed_dim)
        torch.nn.init.zeros_(self.mlp.linear_2.weight)
        torch.nn.init.zeros_(self.mlp.linear_2.bias)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        scores = torch.einsum("qd,bld->bql", self.query, self.key(text)) / text.shape[-1] ** 0.5  # (B, Q, L)
        pooled = scores.softmax(dim=-1) @ text  # (B, Q, D)
        return self.mlp(pooled.flatten(1))  # (B, E)
