"""DSDNPipeline: text-to-video sampling with the Dual-Stream Diffusion Net.

Both latent streams start from independent Gaussian noise and are denoised together by the
:class:`~dsdn.denoiser.DualStreamDenoiser`, with classifier-free guidance on both; the two
streams are stepped by *one* scheduler call on the stacked latents, so any diffusers scheduler
(including multistep ones with history) sees a consistent state. At the end the motion combiner
folds the motion latents into the content latents and the frame-wise VAE decodes the video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from diffusers.pipelines.pipeline_utils import StableDiffusionMixin
from diffusers.utils import BaseOutput
from diffusers.video_processor import VideoProcessor

from .adapter import DSDNAdapter
from .carry import ObjectCarry, carry_start
from .content_stream import LORA_ADAPTER_NAME, ContentStream
from .denoiser import DualStreamDenoiser
from .errors import DSDNInputError, check_finite, check_float, check_int, invalid
from .frame_vae import FrameVAE
from .loading import BASE_COMPONENTS, load_base
from .long_video import ContextWindows
from .motion_codec import combine_motion
from .options import IMAGE_CARRY_SMOOTH, check_needs_sync
from .pipeline_files import PipelineFilesMixin
from .prompt_travel import PromptTravel, per_frame_like
from .sampling import SamplingMixin, eval_mode
from .step_cache import StepCache


@dataclass
class DSDNPipelineOutput(BaseOutput):
    """``frames``: np ``(B, F, H, W, 3)`` in [0, 1], pt ``(B, F, 3, H, W)``, pil ``list[list[Image]]``,
    or, for ``output_type="latent"``, the combined latents ``(B, C, F, h, w)``."""

    frames: Any


class DSDNPipeline(
    SamplingMixin, PipelineFilesMixin, DiffusionPipeline, StableDiffusionMixin, StableDiffusionLoraLoaderMixin
):
    """Dual-Stream Diffusion Net text-to-video pipeline.

    Components: ``vae`` (frame-wise, frozen), ``text_encoder`` + ``tokenizer`` (frozen), ``unet``
    (the frozen content base, carrying the DSDN content LoRA), ``adapter`` (motion stream +
    interaction, :class:`~dsdn.adapter.DSDNAdapter`) and ``scheduler`` (any diffusers scheduler).
    FreeU (``enable_freeu``) acts on the content UNet; ``pipe.vae.enable_slicing()`` and
    ``enable_tiling()`` bound the VAE's memory as in any diffusers pipeline.
    """

    model_cpu_offload_seq = "text_encoder->unet->adapter->vae"
    # What a step-end callback may read and replace (diffusers' contract): ``latents`` is the content stream's
    # latents, ``motion_latents`` the motion stream's; the prompt embeddings are those the loop uses (the
    # negative half first under guidance), ``motion_prompt_embeds`` the motion stream's.
    _callback_tensor_inputs = ["latents", "motion_latents", "prompt_embeds", "negative_prompt_embeds",
                               "motion_prompt_embeds"]  # fmt: skip

    def __init__(
        self, vae: AutoencoderKL, text_encoder, tokenizer, unet: UNet2DConditionModel, adapter: DSDNAdapter, scheduler
    ):
        super().__init__()
        self.register_modules(
            vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, adapter=adapter, scheduler=scheduler
        )
        # A pipeline may hold only some components (e.g. a text encoder and tokenizer, for encode_prompt).
        self.content_stream = None if unet is None or adapter is None else ContentStream(
            unet, lora_rank=adapter.config.lora_rank, lora_targets=adapter.config.lora_target_modules
        )  # fmt: skip
        self.frame_vae = None if vae is None else FrameVAE(vae)
        #: The closed vocabulary of a base trained on the toy world (``None``: any text).
        self.known_words: frozenset[str] | None = None
        self.vae_scale_factor = 8 if vae is None else self.frame_vae.scale_factor
        self.video_processor = VideoProcessor(do_resize=False, vae_scale_factor=self.vae_scale_factor)

    # ------------------------------------------------------------------ construction / saving
    @classmethod
    def from_components(cls, components: dict, adapter: DSDNAdapter) -> DSDNPipeline:
        """The one way every part of dsdn builds a pipeline: ``components`` as :func:`~dsdn.loading.load_base`
        returns them (``vae``, ``text_encoder``, ``tokenizer``, ``unet``, ``scheduler``; other keys are ignored,
        and ``known_words``, a base's closed vocabulary, is kept) and an adapter."""
        pipe = cls(**{k: components[k] for k in BASE_COMPONENTS}, adapter=adapter)
        pipe.known_words = components.get("known_words")
        return pipe

    @classmethod
    def from_base(cls, base, adapter: DSDNAdapter, base_config=None, torch_dtype=None) -> DSDNPipeline:
        """Pipeline from a base (SD folder or ``.safetensors``, see :func:`~dsdn.loading.load_base`) and an adapter."""
        return cls.from_components(load_base(base, config=base_config, torch_dtype=torch_dtype), adapter)

    @classmethod
    def from_pipe(cls, pipeline: DiffusionPipeline, **kwargs) -> DSDNPipeline:
        """diffusers' ``from_pipe``: a DSDN pipeline sharing ``pipeline``'s components (pass ``adapter=``
        when it has none). The content LoRA is added, at its starting value (zero), to a copy of a UNet
        that does not carry it yet, so the source pipeline stays exactly as it was; a trained DSDN
        loads with :meth:`from_pretrained`."""
        unet = kwargs.get("unet", getattr(pipeline, "unet", None))
        if isinstance(unet, UNet2DConditionModel) and LORA_ADAPTER_NAME not in (
            getattr(unet, "peft_config", None) or {}
        ):
            import copy

            kwargs["unet"] = copy.deepcopy(unet)
        return super().from_pipe(pipeline, **kwargs)

    def fuse_qkv_projections(self, unet: bool = True, vae: bool = True) -> None:
        """diffusers' QKV fusion; the content UNet's is refused while it carries the content LoRA, whose
        layers sit on the projections that fusion replaces (its output would silently lose them)."""
        if unet and self.content_stream is not None and self.content_stream.has_lora:
            raise DSDNInputError(
                "fuse_qkv_projections(unet=True) would drop the content LoRA (it sits on to_q, to_k and to_v): "
                "fuse the VAE only, fuse_qkv_projections(unet=False)."
            )
        super().fuse_qkv_projections(unet=unet, vae=vae)

    def base_unet_copy(self) -> UNet2DConditionModel:
        """A plain copy of the content base UNet without the DSDN LoRA layers."""
        state = {k.replace(".base_layer.", "."): v for k, v in self.unet.state_dict().items() if "lora_" not in k}
        unet = UNet2DConditionModel.from_config(self.unet.config)
        unet.load_state_dict(state)
        return unet if unet.dtype == self.unet.dtype else unet.to(self.unet.dtype)

    def denoiser(self, use_interaction: bool = True) -> DualStreamDenoiser:
        """The dual-stream denoiser over this pipeline's components."""
        return DualStreamDenoiser.from_adapter(self.content_stream, self.adapter, use_interaction)

    # ------------------------------------------------------------------ sampling helpers
    @property
    def size_factor(self) -> int:
        """Height and width must be multiples of this (VAE factor × UNet down-sampling)."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        motion_prompt: str | list[str] | None = None,
        travel_blend: int | None = None,
        image: Any = None,
        video: Any = None,
        motion_video: Any = None,
        strength: float | None = None,
        motion_hold: float | None = None,
        num_frames: int = 8,
        context_frames: int | None = None,
        context_stride: int | None = None,
        context_anchor: bool = False,
        loop: bool = False,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        motion_guidance_scale: float | None = None,
        content_lora_scale: float = 1.0,
        motion_coherence: float | None = None,
        combiner: str | None = None,
        stream_sync: float | None = None,
        shared_noise: float | None = None,
        cross_frame_attention: bool | None = None,
        carry_from: float | None = None,
        early_coherence: float | None = None,
        early_until: float | None = None,
        cache_interval: int = 1,
        cache_depth: int = 1,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        clip_skip: int | None = None,
        output_type: str = "np",
        decode_chunk_size: int = 16,
        use_interaction: bool = True,
        return_dict: bool = True,
        callback_on_step_end: Callable[[DiffusionPipeline, int, int, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
    ) -> DSDNPipelineOutput | tuple:
        """Generate videos from text.

        Args:
            prompt: what the video shows (content stream, and motion stream unless ``motion_prompt``);
                or give ``prompt_embeds`` instead. A dict ``{0: text, 32: other}`` travels: each text from its
                frame on, each change blended over ``travel_blend`` frames (default 8; see :mod:`dsdn.prompt_travel`).
            negative_prompt: guidance away from this text (default: the empty prompt); or give
                ``negative_prompt_embeds``.
            motion_prompt: optional text for the motion stream alone (content/motion disentanglement).
            image: image-to-video: the picture the clip starts from (a PIL image, an ``(H, W, 3)`` array, uint8 or in
                [0, 1], a ``(3, H, W)`` tensor in [0, 1], or a list of one per prompt), resized to ``height × width``.
                Every frame's starting noise is that of the picture's latent at the first step (``a·picture +
                s·noise``, so the frames start where the picture has its object); at every step the synced video's
                frame 1 is held at the picture and the motion stream is decomposed from that video, so it needs
                ``stream_sync`` > 0. The early steps sync with γ = 1 unless a γ is given, and object carry smooths
                its path (:data:`~dsdn.options.IMAGE_EARLY_COHERENCE`, :data:`~dsdn.options.IMAGE_CARRY_SMOOTH`).
            video: video-to-video (SDEdit on both streams): the source clip (an ``(F, H, W, 3)`` array, uint8 or in
                [0, 1], an ``(F, 3, H, W)`` tensor in [0, 1], or a list of frames), its first ``num_frames`` frames
                resized to ``height × width``. Both streams start from the source's latents (the motion stream's
                decomposed from them) noised to the step ``strength`` of the way back, and denoise from there: the
                prompt redraws what the source shows, the source's layout and motion stay.
            motion_video: motion transfer: a reference clip (as ``video``) whose motion the prompt's content takes.
                Video-to-video from the reference at a high ``strength`` (default 0.8: the noise erases its colour and
                outline, not where its object is), with the motion stream held at the reference's motion latents for
                the first ``motion_hold`` (default 0.5) of the steps run, while the clip's layout is decided.
            strength: in (0, 1], how much of the source (``video`` or ``motion_video``) is redrawn: the share of the
                steps run (1: all, from noise alone; lower keeps more of the source). Default 0.6 for ``video``,
                0.8 for ``motion_video``.
            motion_hold: in [0, 1], the share of the steps run during which the motion stream's clean prediction is
                the source's motion latents (default 0 for ``video``, 0.5 for ``motion_video``).
            num_frames: frames per video (>= 2; with ``context_frames``, as many as wanted).
            context_frames: long videos: both UNets denoise windows of this many frames (at most the motion stream's
                ``motion_frame_positions``), ``context_stride`` apart (default half a window), fused at every step
                with weights that peak mid-window; stream sync, its combiner and object carry act on the whole clip,
                and the frames after the first window start from its noise, shuffled (FreeNoise). ``None``: one pass
                over all frames. ``context_anchor``: every later window also holds the clip's frame 1 (one frame
                more per window), so cross-frame attention reads the clip's frame 1 everywhere. ``loop``: the windows wrap
                around the clip's end, so the last frame leads into the first (needs ``context_frames`` below
                ``num_frames``).
            height, width: pixels; multiples of :attr:`size_factor` (default: the base's native size).
            num_inference_steps: denoising steps (default: the model's ``num_inference_steps`` if it has one,
                else 25).
            guidance_scale: classifier-free guidance on both streams (<= 1 disables it; default: the
                model's ``guidance_scale`` if it has one, else 7.5).
            motion_guidance_scale: guidance of the motion stream alone (default: the model's
                ``motion_guidance_scale`` if it has one, else ``guidance_scale``); used only when
                ``guidance_scale > 1``.
            content_lora_scale: λ, the content increment's step length (0 = base UNet only).
            motion_coherence: γ of the motion combiner in [0, 1] (default: the model's).
            combiner: ``"causal"`` or ``"least_squares"`` (default: the model's; see
                :mod:`dsdn.motion_codec`).
            stream_sync: in [0, 1], how far both streams' predicted clean latents are pulled, at every
                step, onto the one video the combiner makes of them (:func:`~dsdn.motion_codec.agree_streams`);
                0 combines them only at the end (default: the model's, else 0).
            shared_noise: in [0, 1], the share of the content stream's initial noise variance that is
                common to all frames (a mixed noise prior, as in VideoFusion and PYoCo): frames drawn
                from correlated noise agree on the background and the object's look. The motion
                stream's noise stays independent. Ignored when ``latents`` are given (default: the
                model's, else 0).
            cross_frame_attention: the content stream's self-attention takes its keys and values from
                each clip's first frame (Text2Video-Zero's cross-frame attention), so that every frame
                draws frame 1's object and background (default: the model's, else off).
            carry_from: in [0, 1], the share of the steps after which every later frame of the synced clean
                video takes frame 1's object, moved along the path the video gives it, instead of redrawing it
                (:mod:`dsdn.carry`: one object over a still background). Needs ``stream_sync`` > 0; 1 never
                carries (default: the model's, else 1).
            early_coherence: γ with which stream sync combines the streams during the first ``early_until`` of the
                steps, where the clip's layout (where the object is in each frame) is decided; a higher γ there
                follows the motion stream's path, the later steps' ``motion_coherence`` keeps the content
                stream's drawing (default: the model's when ``motion_coherence`` is not given, 1 with ``image``,
                else ``motion_coherence``).
            early_until: in [0, 1], the share of the steps that sync with ``early_coherence``. Needs
                ``stream_sync`` > 0; 0 has no early steps (default: the model's, else 0).
            cache_interval, cache_depth: the step cache (:mod:`dsdn.step_cache`): both UNets run whole every
                ``cache_interval`` steps; on the steps between, only ``cache_depth`` levels at each end run and the
                deeper ones' features are reused (1: no cache).
            generator: seeds every random draw (one generator, or one per video).
            latents: optional initial noise ``(B, C, F, h, w)``: one tensor is the content stream's (what
                the frames show; the motion stream's is drawn from ``generator``), a pair
                ``(content, motion)`` sets both.
            prompt_embeds: text embeddings ``(B, L, D)`` in place of ``prompt``, e.g. from
                :meth:`encode_prompt` (weighted prompts, embeddings reused across calls). They condition
                both streams unless ``motion_prompt`` is given; a model with a closed vocabulary does
                not read them word by word.
            negative_prompt_embeds: embeddings in place of ``negative_prompt`` (the shape of ``prompt_embeds``).
            cross_attention_kwargs: passed to the content UNet's attention processors, as in diffusers'
                image pipelines; its ``"scale"`` is the content LoRA's scale (``content_lora_scale``).
            clip_skip: text-encoder layers to skip before the one whose states are used (diffusers').
            output_type: ``"np"``, ``"pt"``, ``"pil"`` or ``"latent"``.
            decode_chunk_size: frames per VAE decode call (bounds memory).
            use_interaction: ``False`` runs the no-interaction ablation.
            callback_on_step_end: diffusers' step-end callback, called after every step as
                ``fn(pipe, step_index, timestep, callback_kwargs) -> dict`` (or a diffusers
                ``PipelineCallback``, e.g. ``SDCFGCutoffCallback``). ``callback_kwargs`` holds the tensors
                named in ``callback_on_step_end_tensor_inputs``; those the callback returns replace them.
            callback_on_step_end_tensor_inputs: which of :attr:`_callback_tensor_inputs` the callback
                receives (default ``["latents"]``, the content stream's latents; ``"motion_latents"`` are
                the motion stream's).
        """
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        num_inference_steps = self.default_steps() if num_inference_steps is None else num_inference_steps
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        tensor_inputs = self._check_callback(callback_on_step_end, callback_on_step_end_tensor_inputs)
        attention_kwargs = dict(cross_attention_kwargs or {})
        if "scale" in attention_kwargs:  # diffusers' LoRA scale: here, the content increment's λ
            scale = attention_kwargs.pop("scale")
            if content_lora_scale != 1.0 and scale != content_lora_scale:
                raise invalid("cross_attention_kwargs", cross_attention_kwargs,
                              "its 'scale' is the content LoRA scale: give it or content_lora_scale, not both")  # fmt: skip
            content_lora_scale = scale
        if clip_skip is not None:
            check_int("clip_skip", clip_skip, 0)
        self._cross_attention_kwargs, self._clip_skip = cross_attention_kwargs, clip_skip
        travel = None
        if isinstance(prompt, dict):  # prompt travel: {frame: text}
            travel = PromptTravel.parse(prompt, num_frames, travel_blend)
            prompt, (carry_from, cross_frame_attention) = (
                travel.prompts,
                travel.sampling_defaults(carry_from, cross_frame_attention),
            )
        elif travel_blend is not None:
            raise invalid("travel_blend", travel_blend, "needs prompt travel (a {frame: text} prompt)")
        settings = self.sampling_settings(guidance_scale, motion_guidance_scale, motion_coherence, combiner, stream_sync,
                                          shared_noise, cross_frame_attention, carry_from, early_coherence,
                                          early_until, image is not None)  # fmt: skip
        check_needs_sync(settings["stream_sync"], settings["carry_from"], settings["early_until"])
        cache = StepCache(cache_interval, cache_depth, min(len(self.unet.down_blocks), len(self.unet.up_blocks)) - 1)
        if image is not None and settings["stream_sync"] <= 0.0:
            raise DSDNInputError("image= holds frame 1 through stream sync: give stream_sync > 0 (this call's is 0).")
        source_name = "video" if motion_video is None else "motion_video"
        video, strength, motion_hold = self.check_source(image, video, motion_video, strength, motion_hold)
        guidance_scale, motion_guidance_scale = settings["guidance_scale"], settings["motion_guidance_scale"]
        windows = None
        if context_frames is not None:
            check_int("num_frames", num_frames, 2)
            limit = getattr(self.adapter.config, "motion_frame_positions", 0) or None
            check_int("context_frames", context_frames, 2, limit and limit - int(bool(context_anchor)))
            windows = ContextWindows(num_frames, context_frames, context_stride, anchor=context_anchor, loop=loop)
        elif context_stride is not None or loop:
            name, value = ("loop", loop) if loop else ("context_stride", context_stride)
            raise invalid(name, value, "needs context_frames (the windows' length)")
        prompts, negatives, motions = self.check_inputs(
            prompt, negative_prompt, motion_prompt, num_frames if windows is None else windows.length, height, width,
            num_inference_steps, guidance_scale,
            content_lora_scale, motion_coherence, combiner, output_type, num_videos_per_prompt, decode_chunk_size,
            prompt_embeds, negative_prompt_embeds,
        )  # fmt: skip
        # Sample with dropout off even when called from a training loop (validation samples).
        with eval_mode(self.unet, self.adapter, self.vae, self.text_encoder):
            gamma, sync = float(settings["motion_coherence"]), settings["stream_sync"]
            device = self._execution_device
            n = num_videos_per_prompt
            batch = len(prompts) if prompts is not None else prompt_embeds.shape[0]
            b = batch * n
            self._guidance_scale, self._interrupt = float(guidance_scale), False
            do_cfg = self.do_classifier_free_guidance
            check_float("motion_guidance_scale", motion_guidance_scale, 0.0)

            # Text is encoded once for the whole call; the motion stream reads the prompt's unless it has its own.
            if travel is not None:  # each frame's blend of the key prompts' states: (B, F, L, D)
                if len(negatives or "-") > 1 or len(motions or "-") > 1:
                    raise DSDNInputError("prompt travel makes one video: give one negative_prompt and motion_prompt.")
                travel.prompts, prompts, batch, b = prompts, prompts[:1], 1, n
            text, neg = self.encode_prompt(prompts, device, n, do_cfg, negatives, prompt_embeds, negative_prompt_embeds,
                                           clip_skip=clip_skip)  # (B, L, D) each  # fmt: skip
            if travel is not None:
                keys = self.encode_prompt(travel.prompts, device, 1, False, clip_skip=clip_skip)[0]
                text = travel.frame_states(keys, num_frames)[None].expand(n, -1, -1, -1)
            motion_text = text
            if motions:
                motion_text = self.encode_prompt(motions * batch if len(motions) == 1 else motions, device, n, False,
                                                 clip_skip=clip_skip)[0]  # fmt: skip
            if do_cfg:
                text, motion_text = (torch.cat([per_frame_like(neg, t), t]) for t in (text, motion_text))  # (2B, …)

            self.scheduler.set_timesteps(num_inference_steps, device=device)
            timesteps, begin = self.scheduler.timesteps, 0
            if video is not None:  # SDEdit: the last round(strength · steps) steps, from the source noised to there
                begin = (num_inference_steps - max(1, round(strength * num_inference_steps))) * self.scheduler.order
                timesteps = timesteps[begin:]
                if hasattr(self.scheduler, "set_begin_index"):
                    self.scheduler.set_begin_index(begin)
            shape = (
                b,
                self.unet.config.in_channels,
                num_frames,
                height // self.vae_scale_factor,
                width // self.vae_scale_factor,
            )
            x = self.prepare_latents(shape, generator, device, latents, settings["shared_noise"])  # content, motion
            if windows is not None and latents is None:
                x = windows.shuffle_noise(x, generator)
            x, first, source_motion = self.start_from_inputs(x, image, video, batch, n, height, width, timesteps[0],
                                                             device, source_name)  # fmt: skip
            hold_steps = round(motion_hold * len(timesteps))

            denoiser = self.denoiser(use_interaction)
            if windows is not None:
                denoiser = partial(windows, denoiser)
            step_kwargs = self._step_kwargs(generator)
            start = carry_start(settings["carry_from"], len(timesteps))
            smooth = IMAGE_CARRY_SMOOTH if image is not None else None  # the picture's object waits, then jumps
            carry = None if start is None else ObjectCarry(start, self.frame_vae, smooth)
            self._num_timesteps = len(timesteps)
            early_steps = round(settings["early_until"] * len(timesteps))
            with self.progress_bar(total=len(timesteps)) as bar:
                for i, t in enumerate(timesteps):
                    if self.interrupt:
                        continue
                    do_cfg = self.do_classifier_free_guidance  # a callback may turn guidance off part-way
                    if not do_cfg:  # ... and both streams then drop the negative half (SDCFGCutoffCallback's own cut
                        text, motion_text = text[-b:], motion_text[-b:]  # keeps one row only: right for one video)
                    x_in = self.scheduler.scale_model_input(x, t)
                    z_in, m_in = x_in.chunk(2)
                    if do_cfg:
                        z_in, m_in = torch.cat([z_in, z_in]), torch.cat([m_in, m_in])
                    tt = t.expand(z_in.shape[0]).to(device)
                    cache.begin_step(i)
                    eps_c, eps_m = denoiser(z_in, m_in, tt, text, motion_text, lora_scale=content_lora_scale,
                                            cross_frame=settings["cross_frame_attention"],
                                            cross_attention_kwargs=attention_kwargs, cache=cache)  # fmt: skip
                    if do_cfg:
                        u_c, c_c = eps_c.chunk(2)
                        u_m, c_m = eps_m.chunk(2)
                        eps_c = u_c + self._guidance_scale * (c_c - u_c)
                        eps_m = u_m + motion_guidance_scale * (c_m - u_m)
                    if i < hold_steps:  # motion transfer: the motion stream predicts the source's motion
                        eps_m = self.held_motion_noise(x, source_motion, t, i + begin)
                    if sync > 0.0:
                        step_gamma = settings["early_coherence"] if i < early_steps else gamma
                        eps_c, eps_m = self._synced_noise(x, eps_c, eps_m, t, i, step_gamma, settings["combiner"], sync,
                                                          carry, first, begin, circular=loop)  # fmt: skip
                    x = self.scheduler.step(torch.cat([eps_c, eps_m]), t, x, **step_kwargs).prev_sample
                    if callback_on_step_end is not None:
                        z_cur, m_cur = x.chunk(2)
                        tensors = {"latents": z_cur, "motion_latents": m_cur, "prompt_embeds": text,
                                   "negative_prompt_embeds": neg, "motion_prompt_embeds": motion_text}  # fmt: skip
                        out = callback_on_step_end(self, i, t, {k: tensors[k] for k in tensor_inputs}) or {}
                        if "latents" in out or "motion_latents" in out:
                            x = torch.cat([out.pop("latents", z_cur), out.pop("motion_latents", m_cur)])
                        text = out.pop("prompt_embeds", text)
                        neg = out.pop("negative_prompt_embeds", neg)
                        motion_text = out.pop("motion_prompt_embeds", motion_text)
                    bar.update()

            z, m = x.chunk(2)
            video_latents = combine_motion(
                z, m, self.adapter.config.motion_scale, gamma, settings["combiner"], circular=loop
            )  # (B, C, F, h, w)
            check_finite(video_latents, f"sampling produced NaN or infinite latents (guidance {guidance_scale}, motion "
                         f"guidance {motion_guidance_scale}, LoRA scale {content_lora_scale}): lower a scale that is "
                         "too large, or check that the model's weights are finite.")  # fmt: skip
            if output_type == "latent":
                frames = video_latents
            else:
                video = self.frame_vae.decode(video_latents, chunk_size=decode_chunk_size)  # (B, 3, F, H, W)
                check_finite(video, f"the VAE decoded NaN or infinite frames from finite latents (dtype {video.dtype}): "
                             "decode in float32, or check that the VAE's weights are finite.")  # fmt: skip
                frames = self.video_processor.postprocess_video(video.float(), output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return DSDNPipelineOutput(frames=frames)
