"""ContentStream: the paper's content base unit + content increment unit.

The content of each frame is drawn by a pretrained text-to-image UNet (a diffusers
:class:`~diffusers.UNet2DConditionModel`, any SD-1.x compatible one), kept frozen, plus a small
trainable low-rank increment on its attention projections: ``W' = W + λ·B·A`` (the paper's
"step length" λ). The increment is a PEFT LoRA adapter injected with diffusers' ``add_adapter``
(never hand-written), so it saves in diffusers' LoRA format and loads into any SD pipeline.
``B`` starts at zero: a fresh ContentStream is exactly its base UNet.

Optional, *not the paper's*: **cross-frame attention** (Text2Video-Zero's, Khachatryan et al. 2023).
Each frame's self-attention takes its keys and values from the first frame of its clip, so that all
frames draw the object and the background that frame 1 draws (attention has no positions, so the
object may still be drawn elsewhere). It changes no weight: :meth:`ContentStream.cross_frame`
swaps the self-attention processors for the duration of a call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from diffusers import UNet2DConditionModel

from .frame_vae import fold_frames, unfold_frames
from .prompt_travel import fold_text
from .unet_levels import UNet2DLevels, lora_adapter_scale

LORA_ADAPTER_NAME = "dsdn_content"
DEFAULT_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


class FirstFrameAttention:
    """Attention processor for a self-attention layer over ``(B·F, N, C)`` tokens, frames fastest: keys
    and values come from each clip's first frame. Wraps the layer's own processor, which does the rest."""

    def __init__(self, inner, num_frames: int):
        self.inner = inner
        self.num_frames = num_frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        f = self.num_frames
        if encoder_hidden_states is None and hidden_states.ndim == 3 and hidden_states.shape[0] % f == 0:
            bf, n, c = hidden_states.shape
            first = hidden_states.view(bf // f, f, n, c)[:, :1].expand(-1, f, -1, -1).reshape(bf, n, c)
            encoder_hidden_states = first
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)


class ContentStream(torch.nn.Module):
    """Frozen base UNet run on every frame, plus the DSDN content LoRA.

    Args:
        unet: the content base unit. Its own weights are frozen here.
        lora_rank: rank of the increment; ``0`` disables it (pure base).
        lora_alpha: LoRA alpha (defaults to the rank, i.e. scale 1).
        lora_targets: attention projections that receive the increment.
    """

    def __init__(
        self,
        unet: UNet2DConditionModel,
        lora_rank: int = 4,
        lora_alpha: float | None = None,
        lora_targets: Sequence[str] = DEFAULT_LORA_TARGETS,
    ):
        super().__init__()
        self.unet = unet
        self.unet.requires_grad_(False)
        if lora_rank > 0 and LORA_ADAPTER_NAME not in (getattr(unet, "peft_config", None) or {}):
            from peft import LoraConfig

            config = LoraConfig(
                r=lora_rank,
                lora_alpha=lora_alpha or lora_rank,
                init_lora_weights=True,  # A random, B zero: the increment starts at exactly 0
                target_modules=list(lora_targets),
            )
            unet.add_adapter(config, adapter_name=LORA_ADAPTER_NAME)
        self.has_lora = LORA_ADAPTER_NAME in (getattr(unet, "peft_config", None) or {})

    def lora_parameters(self) -> Iterator[tuple[str, torch.nn.Parameter]]:
        """The increment's parameters (the only trainable part of the content stream)."""
        for name, p in self.unet.named_parameters():
            if "lora_" in name and f".{LORA_ADAPTER_NAME}." in name + ".":
                yield name, p

    @contextmanager
    def lora_scale(self, scale: float) -> Iterator[None]:
        """Run with the increment multiplied by ``scale`` (λ); ``0`` is the pure base UNet."""
        if not self.has_lora or scale == 1.0:
            yield
            return
        with lora_adapter_scale(self.unet, LORA_ADAPTER_NAME, scale):
            yield

    @contextmanager
    def cross_frame(self, num_frames: int, enabled: bool = True) -> Iterator[None]:
        """Run with cross-frame attention (module docstring) for clips of ``num_frames`` frames."""
        if not enabled or num_frames < 2:  # (checked first: the denoiser enters this on every call)
            yield
            return
        layers = [m for n, m in self.unet.named_modules() if n.endswith("attn1") and hasattr(m, "processor")]
        originals = [m.processor for m in layers]
        for m, proc in zip(layers, originals):
            m.processor = FirstFrameAttention(proc, num_frames)
        try:
            yield
        finally:
            for m, proc in zip(layers, originals):
                m.processor = proc

    def levels(self, sample: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor,
               cross_attention_kwargs: dict | None = None) -> UNet2DLevels:  # fmt: skip
        """Start a level-by-level pass: ``sample (B, C, F, h, w)``, ``timestep (B,)``, ``text (B, L, D)`` (or per
        frame, ``(B, F, L, D)``); ``cross_attention_kwargs`` go to the UNet's attention processors."""
        f = sample.shape[2]
        return UNet2DLevels(
            self.unet,
            fold_frames(sample),  # (B·F, C, h, w)
            timestep.repeat_interleave(f),  # (B·F,)
            fold_text(text, f),  # (B·F, L, D)
            cross_attention_kwargs,
        )

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor, lora_scale: float = 1.0):
        """Content stream alone (no interaction): ``(B, C, F, h, w)`` -> noise prediction, same shape."""
        f = sample.shape[2]
        with self.lora_scale(lora_scale):
            out = self.unet(
                fold_frames(sample), timestep.repeat_interleave(f), fold_text(text, f)
            ).sample  # (B·F, C, h, w)
        return unfold_frames(out, f)

    def level_channels(self) -> list[int]:
        """Output width of each level in pairing order: down levels, middle, up levels."""
        return level_channels(self.unet.config.block_out_channels)


def level_channels(block_out_channels: Sequence[int]) -> list[int]:
    """Widths of the paired levels of a UNet with these ``block_out_channels``."""
    ch = list(block_out_channels)
    return ch + [ch[-1]] + ch[::-1]
