"""DSDNAdapter: everything DSDN trains on top of a frozen base, saved apart from it.

Like AnimateDiff's ``MotionAdapter``, the adapter is what a DSDN checkpoint *is*: the motion
stream (3D UNet), the dual-stream interaction blocks and the settings that interpret them
(LoRA rank and targets, motion scale ``s_m``, default motion coherence ``γ``). The content LoRA
lives inside the base UNet while running (PEFT) and is saved next to the adapter in diffusers'
LoRA format (``pytorch_lora_weights.safetensors``), so it also loads into any SD pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

from diffusers import UNet2DConditionModel, UNet3DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin

from .content_stream import DEFAULT_LORA_TARGETS, level_channels
from .data.toy_world import VERSIONS as TOY_WORLD_VERSIONS
from .errors import check_choice
from .interaction import DualStreamInteraction
from .motion_codec import COMBINERS, check_motion_scale
from .motion_stream import MotionTextEmbedding, inflate_from_content, motion_unet_config

LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"


#: Frames a fresh adapter encodes positions for: the most frames it can be trained on or sample.
FRAME_POSITIONS = 32


def add_frame_positions(motion_unet: UNet3DConditionModel, max_frames: int) -> int:
    """Give every temporal transformer block of ``motion_unet`` a sinusoidal frame-position encoding.

    Uses diffusers' own mechanism (``BasicTransformerBlock.pos_embed``, as AnimateDiff's motion
    modules do); the encoding has no parameters. Returns the number of blocks changed.
    """
    from diffusers.models.embeddings import SinusoidalPositionalEmbedding
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    n = 0
    for module in motion_unet.modules():
        if isinstance(module, TransformerTemporalModel):
            for block in module.transformer_blocks:
                block.pos_embed = SinusoidalPositionalEmbedding(
                    block.norm1.normalized_shape[0], max_seq_length=max_frames
                )
                n += 1
    return n


class DSDNAdapter(ModelMixin, ConfigMixin):
    """The trained parts of DSDN except the content LoRA: motion stream + interaction.

    Args:
        motion_unet_config: kwargs of the :class:`~diffusers.UNet3DConditionModel` motion stream.
        content_channels: the paired content UNet's level widths (see ``level_channels``).
        interaction_head_dim: head width of the cross-stream attention.
        interaction_window: temporal half-window of the cross-stream attention (0 = per frame).
        interaction_locality: initial width σ, as a fraction of the frame side, of the learned
            Gaussian position bias of the cross-stream attention (0 = none, the paper's plain
            cross-attention; see :mod:`dsdn.interaction`).
        lora_rank: rank of the content increment (0 = none).
        lora_target_modules: attention projections of the base UNet that get the increment.
        motion_scale: ``s_m`` of the motion decomposer/combiner.
        motion_coherence: default ``γ`` of the motion combiner.
        combiner: default motion combiner, ``"causal"`` or ``"least_squares"``
            (see :mod:`dsdn.motion_codec`); configs saved before it was a choice load as causal.
        stream_sync: default strength in [0, 1] with which sampling pulls both streams onto the
            combiner's one video at every step (:func:`~dsdn.motion_codec.agree_streams`; 0 = only
            at the end, as configs saved before it load).
        shared_noise: default share in [0, 1] of the content stream's initial noise variance common
            to all frames (0 = independent frames, as configs saved before it load).
        cross_frame_attention: whether sampling runs the content stream's self-attention on each clip's
            first frame by default (:meth:`~dsdn.content_stream.ContentStream.cross_frame`; off, as
            configs saved before it load).
        carry_from: default share in [0, 1] of the denoising steps after which later frames take frame 1's
            object, moved along its path (:mod:`dsdn.carry`; 1 = never, as configs saved before it load).
        early_coherence: default ``γ`` with which stream sync combines the streams during the first
            ``early_until`` of the steps, where the layout of the clip is decided (``None``: ``motion_coherence``).
        early_until: default share in [0, 1] of the denoising steps that sync with ``early_coherence``
            (0 = none, as configs saved before it load).
        toy_world: the toy-world version the model learned (``"v1"``, ``"v2"``, ``"v3"``), written by
            ``dsdn train video`` on toy data so that the evaluation judges it at that world's object size;
            ``None``: not trained on the toy world, or saved before it was recorded (judged as v1).
        motion_guidance_scale: default classifier-free guidance of the motion stream alone
            (``None``: the same as the content stream's).
        guidance_scale: default classifier-free guidance of the content stream (and of the motion
            stream when ``motion_guidance_scale`` is ``None``); ``None``: 7.5.
        num_inference_steps: default number of denoising steps (``None``: 25).
        motion_frame_positions: sinusoidal frame-position encoding in every temporal
            transformer of the motion stream, for clips of up to this many frames (0 = none, as
            in diffusers' ``UNet3DConditionModel``, whose temporal attention cannot tell frame
            order apart).
        motion_pooled_text: give the motion stream a pooled text embedding added to its
            timestep embedding (:class:`~dsdn.motion_stream.MotionTextEmbedding`), besides its
            cross-attention.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        motion_unet_config: dict | None = None,
        content_channels: Sequence[int] = (32, 64, 64, 64, 32),
        interaction_head_dim: int = 32,
        interaction_window: int = 0,
        lora_rank: int = 4,
        lora_target_modules: Sequence[str] = DEFAULT_LORA_TARGETS,
        motion_scale: float = 1.0,
        motion_coherence: float = 0.5,
        motion_frame_positions: int = FRAME_POSITIONS,
        motion_guidance_scale: float | None = None,
        motion_pooled_text: bool = False,
        guidance_scale: float | None = None,
        num_inference_steps: int | None = None,
        interaction_locality: float = 0.0,
        combiner: str = "causal",
        stream_sync: float = 0.0,
        shared_noise: float = 0.0,
        cross_frame_attention: bool = False,
        carry_from: float = 1.0,
        early_coherence: float | None = None,
        early_until: float = 0.0,
        toy_world: str | None = None,
    ):
        super().__init__()
        check_motion_scale(motion_scale)
        if not 0.0 <= motion_coherence <= 1.0:
            raise ValueError(f"motion_coherence={motion_coherence} is invalid: must be in [0, 1]")
        check_choice("combiner", combiner, COMBINERS)
        if not 0.0 <= stream_sync <= 1.0:
            raise ValueError(f"stream_sync={stream_sync} is invalid: must be in [0, 1]")
        if not 0.0 <= shared_noise <= 1.0:
            raise ValueError(f"shared_noise={shared_noise} is invalid: must be in [0, 1]")
        if not 0.0 <= carry_from <= 1.0:
            raise ValueError(f"carry_from={carry_from} is invalid: must be in [0, 1]")
        if early_coherence is not None and not 0.0 <= early_coherence <= 1.0:
            raise ValueError(f"early_coherence={early_coherence} is invalid: must be in [0, 1]")
        if not 0.0 <= early_until <= 1.0:
            raise ValueError(f"early_until={early_until} is invalid: must be in [0, 1]")
        if toy_world is not None:
            check_choice("toy_world", toy_world, TOY_WORLD_VERSIONS)
        if motion_guidance_scale is not None and not 0.0 <= motion_guidance_scale < float("inf"):
            raise ValueError(f"motion_guidance_scale={motion_guidance_scale} is invalid: must be a finite number >= 0")
        if num_inference_steps is not None and (isinstance(num_inference_steps, bool) or not isinstance(
                num_inference_steps, int) or num_inference_steps < 1):  # fmt: skip
            raise ValueError(f"num_inference_steps={num_inference_steps!r} is invalid: must be an integer >= 1")
        if guidance_scale is not None and not 0.0 <= guidance_scale < float("inf"):
            raise ValueError(f"guidance_scale={guidance_scale} is invalid: must be a finite number >= 0")
        self.motion_unet = UNet3DConditionModel(**(motion_unet_config or {}))
        if motion_frame_positions:
            add_frame_positions(self.motion_unet, motion_frame_positions)
        self.motion_text_embedding = None
        if motion_pooled_text:
            self.motion_text_embedding = MotionTextEmbedding(
                self.motion_unet.config.cross_attention_dim, self.motion_unet.time_embedding.linear_2.out_features
            )
        motion_channels = level_channels(self.motion_unet.config.block_out_channels)
        if len(motion_channels) != len(content_channels):
            raise ValueError(
                f"motion UNet has {len(motion_channels)} paired levels, content UNet {len(content_channels)}"
            )
        self.interaction = DualStreamInteraction(
            content_channels=tuple(content_channels),
            motion_channels=tuple(motion_channels),
            head_dim=interaction_head_dim,
            window=interaction_window,
            locality=interaction_locality,
        )

    @classmethod
    def for_base(
        cls,
        unet: UNet2DConditionModel,
        motion_channels: Sequence[int] | None = None,
        motion_layers_per_block: int | None = None,
        motion_num_heads: int = 8,
        inflate: bool = False,
        inflate_cross_attention: bool = True,
        motion_top_attention: bool = True,
        **kwargs,
    ) -> DSDNAdapter:
        """A fresh adapter whose levels pair with the content base ``unet``.

        ``inflate`` copies the base's matching spatial weights into the motion stream, its text
        cross-attention only with ``inflate_cross_attention``. ``kwargs`` are the remaining
        constructor arguments (``lora_rank``, ``motion_scale``...).
        """
        cfg = motion_unet_config(
            unet.config,
            block_out_channels=motion_channels,
            layers_per_block=motion_layers_per_block,
            num_heads=motion_num_heads,
            top_attention=motion_top_attention,
        )
        adapter = cls(motion_unet_config=cfg, content_channels=level_channels(unet.config.block_out_channels), **kwargs)
        if inflate:
            inflate_from_content(adapter.motion_unet, unet, cross_attention=inflate_cross_attention)
        return adapter
