"""DualStreamInteraction: the paper's cross-transformer interaction module.

At every paired level of the two UNets (each down level, the middle, each up level) content
tokens attend to motion tokens and motion tokens attend to content tokens. Both directions read
the *pre-update* states, so the exchange is symmetric. Each direction is pre-norm cross-attention
(diffusers :class:`~diffusers.models.attention_processor.Attention`, SDPA) with a residual;
``to_k``/``to_v`` take the other stream's width and ``to_out`` returns to the stream's own width,
so the streams may have different channel counts.

Our choices: output projections start at zero, so a fresh interaction is the identity and the
streams start as exactly their own UNets; tokens are per frame (frame ``l`` ↔ frame ``l``) with an
optional temporal window of ``±window`` neighbouring frames on the key/value side.

Plain cross-attention has no positions: a motion token can learn *what* the content holds but not
*where*, so the two streams may put the same object in different places (the content frame draws
it here, the motion stream moves one there, and the combiner shows both). With ``locality`` > 0
*(ours)* every block adds a Gaussian bias ``−d²/(2σ²)`` to its attention logits, ``d`` the distance
between the query's and the key's positions as a fraction of the frame side, so that a token
attends mostly to the other stream at and near its own place. ``σ`` starts at ``locality`` and is
learned (one per block, as ``log σ``); it is a fraction of the frame, so it means the same at
every level and resolution. ``locality = 0`` is the paper's plain cross-attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention_processor import Attention
from diffusers.models.modeling_utils import ModelMixin


def _tokens(h: torch.Tensor) -> torch.Tensor:
    """``(N, C, h, w)`` -> ``(N, h·w, C)``."""
    return h.flatten(2).transpose(1, 2)


def _windowed(tokens: torch.Tensor, num_frames: int, window: int) -> torch.Tensor:
    """Per-frame context of frames ``l-window .. l+window`` (edge frames repeated).

    ``(B·F, T, C)`` -> ``(B·F, (2·window+1)·T, C)``.
    """
    if window == 0:
        return tokens
    n, t, c = tokens.shape
    x = tokens.reshape(n // num_frames, num_frames, t, c)  # (B, F, T, C)
    idx = torch.arange(num_frames, device=tokens.device)
    parts = [x[:, (idx + o).clamp(0, num_frames - 1)] for o in range(-window, window + 1)]
    return torch.cat(parts, dim=2).reshape(n, -1, c)


def _squared_distances(h: int, w: int, device) -> torch.Tensor:
    """``(h·w, h·w)`` squared distances between the token centres of an ``h×w`` grid, in units of
    the frame side (the longer one)."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    pos = torch.stack([(ys.flatten() + 0.5) / max(h, w), (xs.flatten() + 0.5) / max(h, w)], dim=1)
    return torch.cdist(pos, pos).square()


def _attend(attn: Attention, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``attn(x, context)`` with an additive logit ``bias`` ``(queries, keys)`` shared by every head."""
    if bias is None:
        return attn(x, encoder_hidden_states=context)
    n, heads = x.shape[0], attn.heads
    q, k, v = attn.to_q(x), attn.to_k(context), attn.to_v(context)
    q, k, v = (t.view(n, -1, heads, t.shape[-1] // heads).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=attn.scale)
    out = out.transpose(1, 2).reshape(n, -1, out.shape[1] * out.shape[-1])
    return attn.to_out[1](attn.to_out[0](out))


def _cross_attention(query_dim: int, context_dim: int, head_dim: int) -> Attention:
    """Cross-attention from a stream of width ``query_dim`` to one of width ``context_dim``."""
    return Attention(
        query_dim=query_dim,
        cross_attention_dim=context_dim,
        heads=max(1, query_dim // head_dim),
        dim_head=min(head_dim, query_dim),
        out_dim=query_dim,
        bias=False,
    )


class CrossStreamBlock(torch.nn.Module):
    """One level's bidirectional exchange between a content state and a motion state."""

    def __init__(self, content_dim: int, motion_dim: int, head_dim: int = 32, window: int = 0, locality: float = 0.0):
        super().__init__()
        if not (locality >= 0.0 and locality < float("inf")):
            raise ValueError(f"locality={locality} is invalid: must be a finite number >= 0")
        self.window = window
        # log σ of the Gaussian position bias (None: plain cross-attention, as in the paper).
        self.log_locality = torch.nn.Parameter(torch.tensor(math.log(locality))) if locality > 0 else None
        self.norm_c = torch.nn.LayerNorm(content_dim)
        self.norm_m = torch.nn.LayerNorm(motion_dim)
        self.content_from_motion = _cross_attention(content_dim, motion_dim, head_dim)
        self.motion_from_content = _cross_attention(motion_dim, content_dim, head_dim)
        for attn in (self.content_from_motion, self.motion_from_content):
            torch.nn.init.zeros_(attn.to_out[0].weight)
            torch.nn.init.zeros_(attn.to_out[0].bias)

    def forward(self, h_c: torch.Tensor, h_m: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``h_c (B·F, C_c, h, w)``, ``h_m (B·F, C_m, h, w)`` -> both updated, same shapes."""
        n, _, hh, ww = h_c.shape
        tc = self.norm_c(_tokens(h_c))  # (B·F, h·w, C_c)
        tm = self.norm_m(_tokens(h_m))  # (B·F, h·w, C_m)
        bias = None
        if self.log_locality is not None:
            sigma = self.log_locality.exp()
            bias = -_squared_distances(hh, ww, h_c.device) / (2 * sigma * sigma)  # (h·w, h·w)
            bias = bias.repeat(1, 2 * self.window + 1)  # keys: the window's frames, each h·w tokens
        dc = _attend(self.content_from_motion, tc, _windowed(tm, num_frames, self.window), bias)
        dm = _attend(self.motion_from_content, tm, _windowed(tc, num_frames, self.window), bias)
        # (B·F, h·w, C) -> (B·F, C, h, w)
        h_c = h_c + dc.transpose(1, 2).reshape(n, -1, hh, ww)
        h_m = h_m + dm.transpose(1, 2).reshape(n, -1, hh, ww)
        return h_c, h_m


class DualStreamInteraction(ModelMixin, ConfigMixin):
    """One :class:`CrossStreamBlock` per paired level: down levels, then the middle, then up levels.

    Args:
        content_channels: output width of each content level, in pairing order.
        motion_channels: output width of each motion level, same order and length.
        head_dim: attention head width.
        window: temporal half-window of the key/value side (0 = frame ``l`` ↔ frame ``l``).
        locality: initial width σ (fraction of the frame side) of the learned Gaussian position bias
            of every block (0 = none: plain cross-attention, as in the paper).
    """

    @register_to_config
    def __init__(
        self,
        content_channels: tuple[int, ...] = (32, 64, 64, 64, 32),
        motion_channels: tuple[int, ...] = (32, 64, 64, 64, 32),
        head_dim: int = 32,
        window: int = 0,
        locality: float = 0.0,
    ):
        super().__init__()
        if len(content_channels) != len(motion_channels):
            raise ValueError(
                f"content ({len(content_channels)}) and motion ({len(motion_channels)}) level counts differ"
            )
        if window < 0:
            raise ValueError(f"window={window} is invalid: must be >= 0")
        self.blocks = torch.nn.ModuleList(
            CrossStreamBlock(c, m, head_dim=head_dim, window=window, locality=locality)
            for c, m in zip(content_channels, motion_channels)
        )

    def forward(self, level: int, h_c: torch.Tensor, h_m: torch.Tensor, num_frames: int):
        """Exchange at paired level ``level``; see :meth:`CrossStreamBlock.forward`."""
        return self.blocks[level](h_c, h_m, num_frames)
