"""How :class:`~dsdn.pipeline.DSDNPipeline` encodes text, what it checks before sampling, the defaults it fills
in, and its per-step helpers (initial noise, stream sync), as a mixin of the pipeline class."""

from __future__ import annotations

import inspect
import logging
from contextlib import contextmanager

import torch
from diffusers.utils.torch_utils import randn_tensor

from .errors import DSDNInputError, check_choice, check_float, check_int, check_size, invalid
from .motion_codec import agree_streams, decompose_motion
from .objective import mix_shared_noise
from .options import COMBINERS, IMAGE_EARLY_COHERENCE, source_settings
from .vocabulary import in_model_words

logger = logging.getLogger(__name__)

OUTPUT_TYPES = ("np", "pt", "pil", "latent")
DEFAULT_GUIDANCE = 7.5  # classifier-free guidance of a model that sets none
DEFAULT_STEPS = 25  # denoising steps of a model that sets none


def _check_prompt(name: str, prompt, allow_none: bool = False) -> list[str] | None:
    if prompt is None and allow_none:
        return None
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, (list, tuple)) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise invalid(name, prompt, "must be a non-empty string or a list of them")
    if any(not p.strip() for p in prompts):
        raise invalid(name, prompt, "must not be empty or blank", "Describe the video, e.g. 'a red ball moving left'.")
    return list(prompts)


@contextmanager
def eval_mode(*modules: torch.nn.Module | None):
    """Sample with dropout off even when called from a training loop; restore the modes after (a component a
    pipeline does not hold, ``None``, is left out)."""
    modules = [mod for mod in modules if mod is not None]
    modes = [(m, m.training) for mod in modules for m in mod.modules()]
    for mod in modules:
        mod.eval()
    try:
        yield
    finally:
        for m, was_training in modes:
            m.train(was_training)


class SamplingMixin:
    """Text encoding, input checks, sampling defaults and step helpers of :class:`~dsdn.pipeline.DSDNPipeline`."""

    # ------------------------------------------------------------------ sampling state (diffusers' properties)
    @property
    def guidance_scale(self) -> float:
        """The guidance of the running call; a step-end callback may change it (``_guidance_scale``)."""
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1.0

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def cross_attention_kwargs(self) -> dict | None:
        """The ``cross_attention_kwargs`` of the current (or last) call."""
        return getattr(self, "_cross_attention_kwargs", None)

    @property
    def clip_skip(self) -> int | None:
        """The ``clip_skip`` of the current (or last) call."""
        return getattr(self, "_clip_skip", None)

    @property
    def interrupt(self) -> bool:
        """Set ``pipe._interrupt = True`` from a callback to skip the remaining steps."""
        return self._interrupt

    @torch.no_grad()
    def _text_states(self, prompts: list[str], device, clip_skip: int | None = None) -> torch.Tensor:
        """Text-encoder states ``(len(prompts), L, D)``; warns when a prompt is truncated. ``clip_skip``
        takes that many layers before the last one (then the final layer norm), as diffusers does."""
        tok = self.tokenizer(
            prompts, padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True,
            return_tensors="pt",
        )  # fmt: skip
        full = self.tokenizer(prompts, padding="longest", return_tensors="pt").input_ids
        if full.shape[-1] > tok.input_ids.shape[-1]:
            logger.warning("prompt truncated to %d tokens", self.tokenizer.model_max_length)
        ids = tok.input_ids.to(device)
        if clip_skip is None:
            return self.text_encoder(ids)[0]
        hidden = self.text_encoder(ids, output_hidden_states=True).hidden_states[-(clip_skip + 1)]
        model = getattr(self.text_encoder, "text_model", self.text_encoder)  # transformers 5 flattened CLIPTextModel
        return model.final_layer_norm(hidden)

    @torch.no_grad()
    def encode_prompt(
        self, prompt: str | list[str] | None, device=None, num_images_per_prompt: int = 1,
        do_classifier_free_guidance: bool = True, negative_prompt: str | list[str] | None = None,
        prompt_embeds: torch.Tensor | None = None, negative_prompt_embeds: torch.Tensor | None = None,
        lora_scale: float | None = None, clip_skip: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        """Text embeddings in diffusers' form: ``(prompt_embeds, negative_prompt_embeds)``, each
        ``(B·num_images_per_prompt, L, D)``; the negative ones are ``None`` without guidance.

        Embeddings computed once can be passed back to :meth:`__call__` (``prompt_embeds``,
        ``negative_prompt_embeds``); a pipeline built with only ``text_encoder`` and ``tokenizer``
        (the other components ``None``) can compute them. ``negative_prompt`` is one text for every
        prompt or one per prompt (default: the empty prompt). ``lora_scale`` scales LoRA layers loaded
        into the text encoder (DSDN trains none). ``clip_skip`` applies to both embeddings.
        """
        device = device or self._execution_device
        if lora_scale is not None:
            from diffusers.utils import scale_lora_layers

            scale_lora_layers(self.text_encoder, lora_scale)
        try:
            if prompt_embeds is None:
                prompt_embeds = self._text_states(
                    [prompt] if isinstance(prompt, str) else list(prompt), device, clip_skip
                )
            b = prompt_embeds.shape[0]
            dtype = self.text_encoder.dtype if self.text_encoder is not None else prompt_embeds.dtype
            prompt_embeds = prompt_embeds.to(device=device, dtype=dtype).repeat_interleave(num_images_per_prompt, 0)
            if not do_classifier_free_guidance:
                negative_prompt_embeds = None
            else:
                if negative_prompt_embeds is None:
                    negatives = [""] if negative_prompt is None else (
                        [negative_prompt] if isinstance(negative_prompt, str) else list(negative_prompt))  # fmt: skip
                    if len(negatives) not in (1, b):
                        raise invalid("negative_prompt", negative_prompt, f"must be one prompt or {b} (one per prompt)")
                    negative_prompt_embeds = self._text_states(negatives, device, clip_skip).expand(b, -1, -1)
                negative_prompt_embeds = negative_prompt_embeds.to(device=device, dtype=dtype).repeat_interleave(
                    num_images_per_prompt, 0
                )
            return prompt_embeds, negative_prompt_embeds  # (one return, named as diffusers' tools read them)
        finally:
            if lora_scale is not None:
                from diffusers.utils import unscale_lora_layers

                unscale_lora_layers(self.text_encoder, lora_scale)

    def _check_callback(self, callback, tensor_inputs: list[str] | None) -> list[str]:
        """The tensor names a step-end callback receives: a diffusers ``PipelineCallback`` names its own."""
        if callback is None:
            return []
        tensor_inputs = getattr(callback, "tensor_inputs", None) or tensor_inputs or ["latents"]
        unknown = [k for k in tensor_inputs if k not in self._callback_tensor_inputs]
        if unknown:
            raise invalid("callback_on_step_end_tensor_inputs", tensor_inputs,
                          f"may only name {self._callback_tensor_inputs}")  # fmt: skip
        if not callable(callback):
            raise invalid("callback_on_step_end", callback, "must be callable as fn(pipe, step, timestep, kwargs)")
        return list(tensor_inputs)

    def check_inputs(self, prompt, negative_prompt, motion_prompt, num_frames, height, width, steps, guidance_scale,
                     content_lora_scale, motion_coherence, combiner, output_type, num_videos_per_prompt,
                     decode_chunk_size, prompt_embeds=None, negative_prompt_embeds=None):  # fmt: skip
        """Check every argument of :meth:`__call__` before any work; returns the prompts, negative prompts
        and motion prompts as lists (``None`` where not given), read in the model's words."""
        if (prompt is None) == (prompt_embeds is None):
            raise invalid("prompt", prompt, "give either prompt or prompt_embeds, not both and not neither")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise invalid("negative_prompt", negative_prompt, "give either negative_prompt or negative_prompt_embeds")
        prompts = None if prompt is None else _check_prompt("prompt", prompt)
        if prompt_embeds is not None:
            width_d = self.unet.config.cross_attention_dim
            if (
                not isinstance(prompt_embeds, torch.Tensor)
                or prompt_embeds.ndim != 3
                or prompt_embeds.shape[-1] != width_d
            ):
                raise invalid("prompt_embeds", getattr(prompt_embeds, "shape", type(prompt_embeds).__name__),
                              f"must be a tensor (B, L, {width_d}), as encode_prompt returns")  # fmt: skip
        if negative_prompt_embeds is not None and (
            prompt_embeds is None or not isinstance(negative_prompt_embeds, torch.Tensor)
            or negative_prompt_embeds.shape != prompt_embeds.shape
        ):  # fmt: skip
            raise invalid("negative_prompt_embeds", getattr(negative_prompt_embeds, "shape", None),
                          "must come with prompt_embeds and have their shape")  # fmt: skip
        negatives = None
        if negative_prompt is not None:  # may be blank: "" is the default unconditional text
            negatives = [negative_prompt] if isinstance(negative_prompt, str) else negative_prompt
            if (
                not isinstance(negatives, (list, tuple))
                or not negatives
                or not all(isinstance(p, str) for p in negatives)
            ):
                raise invalid("negative_prompt", negative_prompt, "must be a string or a list of strings")
            negatives = list(negatives)
        motions = _check_prompt("motion_prompt", motion_prompt, allow_none=True)
        if self.known_words is not None:  # a closed vocabulary: read each text in the model's words
            prompts, negatives, motions = in_model_words(self.known_words, prompt=prompts, negative_prompt=negatives,
                                                         motion_prompt=motions)  # fmt: skip
        batch = len(prompts) if prompts is not None else prompt_embeds.shape[0]
        for name, other in (("negative_prompt", negatives), ("motion_prompt", motions)):
            if other is not None and len(other) not in (1, batch):
                raise invalid(name, other, f"must be one prompt or {batch} (one per prompt)")
        check_int("num_frames", num_frames, 2)
        max_frames = getattr(self.adapter.config, "motion_frame_positions", 0)
        if max_frames and num_frames > max_frames:
            raise invalid("num_frames", num_frames, f"must be <= {max_frames}, the most frames this model encodes")
        for name, v in (("height", height), ("width", width)):
            check_size(name, v, self.size_factor)
        check_int("num_inference_steps", steps, 1, self.scheduler.config.num_train_timesteps)
        check_float("guidance_scale", guidance_scale, 0.0)
        check_float("content_lora_scale", content_lora_scale)
        if motion_coherence is not None:
            check_float("motion_coherence", motion_coherence, 0.0, 1.0)
        if combiner is not None:
            check_choice("combiner", combiner, COMBINERS)
        check_choice("output_type", output_type, OUTPUT_TYPES)
        check_int("num_videos_per_prompt", num_videos_per_prompt, 1)
        check_int("decode_chunk_size", decode_chunk_size, 1)
        return prompts, negatives, motions

    def default_steps(self) -> int:
        """The denoising steps when the caller gives none: the model's ``num_inference_steps``, else 25."""
        value = getattr(self.adapter.config, "num_inference_steps", None)
        return DEFAULT_STEPS if value is None else int(value)

    def default_guidance(self) -> float:
        """The guidance when the caller gives none: the model's ``guidance_scale``, else 7.5."""
        value = getattr(self.adapter.config, "guidance_scale", None)
        return DEFAULT_GUIDANCE if value is None else float(value)

    def default_motion_guidance(self, guidance_scale: float) -> float:
        """The motion stream's guidance when the caller gives none: the model's default, else ``guidance_scale``."""
        value = getattr(self.adapter.config, "motion_guidance_scale", None)
        return guidance_scale if value is None else float(value)

    def sampling_settings(
        self,
        guidance_scale: float | None = None,
        motion_guidance_scale: float | None = None,
        motion_coherence: float | None = None,
        combiner: str | None = None,
        stream_sync: float | None = None,
        shared_noise: float | None = None,
        cross_frame_attention: bool | None = None,
        carry_from: float | None = None,
        early_coherence: float | None = None,
        early_until: float | None = None,
        image: bool = False,
    ) -> dict:
        """What a call with these arguments samples with: each ``None`` replaced by the model's default;
        ``early_coherence`` is the model's only when the call gives no ``motion_coherence`` (a call that asks for
        a γ samples with it at every step unless it asks for early steps too), and
        :data:`IMAGE_EARLY_COHERENCE` when the call starts from a picture (``image``). The model's default
        ``carry_from`` and ``early_until`` work on the synced video, so they give way (to no carry, no early
        steps) when the call turns stream sync off; given with ``stream_sync=0`` they are the caller's error."""
        for name, value in (("stream_sync", stream_sync), ("shared_noise", shared_noise), ("carry_from", carry_from),
                            ("early_coherence", early_coherence), ("early_until", early_until)):  # fmt: skip
            if value is not None:
                check_float(name, value, 0.0, 1.0)
        guidance_scale = self.default_guidance() if guidance_scale is None else guidance_scale
        config = self.adapter.config
        if stream_sync is not None and stream_sync <= 0.0:
            carry_from = 1.0 if carry_from is None else carry_from
            early_until = 0.0 if early_until is None else early_until
        if early_coherence is None and motion_coherence is None:
            early_coherence = IMAGE_EARLY_COHERENCE if image else getattr(config, "early_coherence", None)
        elif early_coherence is None:
            early_coherence = motion_coherence
        motion_coherence = config.motion_coherence if motion_coherence is None else motion_coherence
        return {
            "guidance_scale": guidance_scale,
            "motion_guidance_scale": self.default_motion_guidance(guidance_scale) if motion_guidance_scale is None
            else motion_guidance_scale,
            "motion_coherence": motion_coherence,
            "combiner": config.combiner if combiner is None else combiner,
            "stream_sync": float(getattr(config, "stream_sync", 0.0) if stream_sync is None else stream_sync),
            "shared_noise": float(getattr(config, "shared_noise", 0.0) if shared_noise is None
                                  else shared_noise),
            "cross_frame_attention": bool(getattr(config, "cross_frame_attention", False)
                                          if cross_frame_attention is None else cross_frame_attention),
            "carry_from": float(getattr(config, "carry_from", 1.0) if carry_from is None else carry_from),
            "early_coherence": float(motion_coherence if early_coherence is None else early_coherence),
            "early_until": float(getattr(config, "early_until", 0.0) if early_until is None else early_until),
        }  # fmt: skip

    def _clean_prediction_affine(self, t, index: int) -> tuple[float, float]:
        """``(a, s)`` with ``x0 = (x − s·ε) / a`` for the scheduler's current sample ``x`` at step ``index``: exact
        for the ᾱ-schedulers (DDIM, DDPM, DPM-Solver++, UniPC, PNDM) and for Euler's ``x = x0 + σ·ε``; for a
        second-order σ-sampler's inner evaluation it is the outer step's σ (stream sync is a heuristic there)."""
        if self.scheduler.config.get("prediction_type", "epsilon") != "epsilon":
            raise DSDNInputError("stream_sync needs a scheduler with prediction_type 'epsilon'.")
        sigmas = getattr(self.scheduler, "sigmas", None)
        if float(self.scheduler.init_noise_sigma) != 1.0 and sigmas is not None:  # Euler-type: x = x0 + σ·ε
            return 1.0, float(sigmas[index])
        alpha = float(self.scheduler.alphas_cumprod[int(t)])
        return alpha**0.5, (1.0 - alpha) ** 0.5

    def _synced_noise(self, x, eps_c, eps_m, t, index, gamma, combiner, strength, carry=None, first_frame=None,
                      begin: int = 0, circular: bool = False):  # fmt: skip
        """Both streams' noise predictions after pulling their clean predictions onto one video; from its start
        step, ``carry`` (a :class:`~dsdn.carry.ObjectCarry`) makes that video's later frames take frame 1's object.
        ``first_frame`` ``(B, C, 1, h, w)``: the clean latent that video's frame 1 is held at (image-to-video), the
        motion stream's then decomposed from the held video. ``begin``: the scheduler's index of the first step run
        (video-to-video starts part-way). ``circular``: the clip loops (frame 1 follows the last)."""
        a, s = self._clean_prediction_affine(t, index + begin)
        z, m = x.chunk(2)
        c0, m0 = (z - s * eps_c) / a, (m - s * eps_m) / a
        c0, m0 = c0.float(), m0.float()
        if first_frame is not None:  # before the streams agree (the motion stream sees it) and after (it is kept)
            c0 = torch.cat([first_frame.to(c0), c0[:, :, 1:]], dim=2)
        c0, m0 = agree_streams(c0, m0, self.adapter.config.motion_scale, gamma, combiner, strength, circular)
        if first_frame is not None:
            c0 = torch.cat([first_frame.to(c0), c0[:, :, 1:]], dim=2)
        if carry is not None and index >= carry.start:
            c0 = carry.apply(c0)
        if first_frame is not None or (carry is not None and index >= carry.start):
            m0 = decompose_motion(c0, self.adapter.config.motion_scale, circular)
        return ((z - a * c0.to(z)) / s), ((m - a * m0.to(m)) / s)

    def _pixels(self, images: list, name: str, height: int, width: int) -> torch.Tensor:
        """``images`` (PIL images, ``(H, W, 3)`` arrays, uint8 or in [0, 1], or ``(3, H, W)`` tensors in [0, 1]) resized
        to ``height × width``: ``(N, 3, H, W)`` in [-1, 1] (``name`` is the argument an error names)."""
        import numpy as np
        import PIL.Image
        from diffusers.image_processor import VaeImageProcessor

        images = list(images)
        for k, im in enumerate(images):
            if isinstance(im, PIL.Image.Image):
                images[k] = im.convert("RGB")
            elif isinstance(im, np.ndarray) and im.ndim == 3 and im.shape[-1] == 3 and im.size:
                images[k] = im.astype(np.float32) / 255.0 if im.dtype == np.uint8 else im.astype(np.float32)
            elif not (isinstance(im, torch.Tensor) and im.ndim == 3 and im.shape[0] == 3 and im.numel()):
                shape = tuple(getattr(im, "shape", ()))
                raise invalid(name, f"{type(im).__name__}{list(shape) if shape else ''}",
                              "must be a PIL image, an (H, W, 3) array or a (3, H, W) tensor")  # fmt: skip
        processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor)
        pixels = torch.cat([processor.preprocess(im, height, width) for im in images])  # (N, 3, H, W) in [-1, 1]
        if not torch.isfinite(pixels).all():
            raise invalid(name, "pictures with NaN or infinite values", "must hold finite pixel values")
        return pixels

    @torch.no_grad()
    def first_frame_latents(self, image, prompts: int, per_prompt: int, height: int, width: int, device):
        """The clean latent frame 1 is held at in image-to-video, ``(prompts·per_prompt, C, 1, h, w)``: ``image``
        (a PIL image, an ``(H, W, 3)`` array, uint8 or in [0, 1], a ``(3, H, W)`` tensor in [0, 1], or a list with
        one of them per prompt) resized to ``height × width`` and encoded by the VAE (its posterior's mode)."""
        images = list(image) if isinstance(image, (list, tuple)) else [image]
        if len(images) not in (1, prompts):
            raise invalid("image", f"{len(images)} images", f"must be one image, or one per prompt ({prompts})")
        pixels = self._pixels(images, "image", height, width)
        latent = self.frame_vae.encode(pixels.unsqueeze(2).to(device), sample=False).float()  # (N, C, 1, h, w)
        return latent.expand(prompts, *latent.shape[1:]).repeat_interleave(per_prompt, dim=0)

    @torch.no_grad()
    def source_video_latents(self, video, videos: int, num_frames: int, height: int, width: int, device,
                             name: str = "video"):  # fmt: skip
        """Video-to-video: the source clip's clean latents, ``(videos, C, num_frames, h, w)``: ``video`` (an
        ``(F, H, W, 3)`` array, uint8 or in [0, 1], an ``(F, 3, H, W)`` tensor in [0, 1], or a list of frames, each a
        PIL image, an ``(H, W, 3)`` array or a ``(3, H, W)`` tensor), its first ``num_frames`` frames resized to
        ``height × width`` and encoded by the VAE (its posterior's mode)."""
        frames = list(video) if isinstance(video, (list, tuple)) or getattr(video, "ndim", 0) == 4 else None
        if frames is None:
            shape = tuple(getattr(video, "shape", ()))
            raise invalid(name, f"{type(video).__name__}{list(shape) if shape else ''}",
                          "must be an (F, H, W, 3) array, an (F, 3, H, W) tensor or a list of frames")  # fmt: skip
        if len(frames) < num_frames:
            raise invalid(name, f"a clip of {len(frames)} frames", f"must have at least num_frames={num_frames}")
        pixels = self._pixels(frames[:num_frames], name, height, width)  # (F, 3, H, W)
        latent = self.frame_vae.encode(pixels.transpose(0, 1).unsqueeze(0).to(device), sample=False).float()
        return latent.expand(videos, *latent.shape[1:])  # (videos, C, F, h, w)

    def check_source(self, image, video, motion_video, strength: float | None, motion_hold: float | None):
        """The clip sampling starts from and how: ``(source, strength, motion_hold)``, the defaults filled in
        (:func:`~dsdn.options.source_settings`); a one-line error for more than one of ``image``, ``video``,
        ``motion_video``, or a strength or hold out of range or without a source."""
        given = [
            name for name, v in (("image", image), ("video", video), ("motion_video", motion_video)) if v is not None
        ]
        if len(given) > 1:
            raise DSDNInputError(f"give one of image=, video= and motion_video=, not {' and '.join(given)}.")
        source = video if video is not None else motion_video
        kind = None if source is None else ("motion" if motion_video is not None else "video")
        return (source, *source_settings(kind, strength, motion_hold))

    def start_from_inputs(self, x, image, video, prompts: int, per_prompt: int, height: int, width: int, t0, device,
                          name: str = "video"):  # fmt: skip
        """The stacked start latents ``x`` (content, then motion), frame 1's held latent (``None`` unless
        image-to-video) and the source clip's motion latents (``None`` without a source): given an ``image`` (every
        frame starts as a draw of the forward process from the picture at the first step ``t0``) or a source
        ``video`` (both streams start as draws from the source at ``t0``, the motion stream's from the source's
        decomposed motion: SDEdit; ``name`` is the argument an error names)."""
        first = motion = None
        if image is not None:
            first = self.first_frame_latents(image, prompts, per_prompt, height, width, device)
            a, s = self._clean_prediction_affine(t0, 0)
            z, m = x.chunk(2)
            x = torch.cat([a * first.to(z) + s * (z / self.scheduler.init_noise_sigma), m])
        if video is not None:
            b = prompts * per_prompt
            source = self.source_video_latents(video, b, x.shape[2], height, width, device, name)
            motion = decompose_motion(source, self.adapter.config.motion_scale)
            t = t0.expand(b) if t0.ndim == 0 else t0
            z, m = (part / self.scheduler.init_noise_sigma for part in x.chunk(2))
            z = self.scheduler.add_noise(source.to(z), z, t)
            m = self.scheduler.add_noise(motion.to(m), m, t)
            x = torch.cat([z, m])
        return x, first, motion

    def held_motion_noise(self, x, motion: torch.Tensor, t, index: int) -> torch.Tensor:
        """The motion stream's noise prediction whose clean prediction is ``motion`` (the source clip's motion
        latents) at the scheduler's step ``index``: motion transfer holds the motion stream there while the
        clip's layout is decided."""
        a, s = self._clean_prediction_affine(t, index)
        m = x.chunk(2)[1]
        return (m - a * motion.to(m)) / s

    def _step_kwargs(self, generator) -> dict:
        return {"generator": generator} if "generator" in inspect.signature(self.scheduler.step).parameters else {}

    def prepare_latents(self, shape: tuple[int, ...], generator, device, latents=None, shared_noise: float = 0.0):
        """Both streams' initial noise, stacked ``(2B, C, F, h, w)`` (content, then motion) and scaled by the
        scheduler's ``init_noise_sigma``. ``latents``: the content noise (the motion noise is then drawn from
        ``generator``) or a ``(content, motion)`` pair; else both are drawn, the content noise with a share
        ``shared_noise`` of its variance common to all frames."""
        dtype = self.unet.dtype
        if latents is None:
            z = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
            m = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
            if shared_noise > 0.0:  # drawn after z and m, so that 0 samples exactly as without it
                common = randn_tensor(shape[:2] + (1,) + shape[3:], generator=generator, device=device, dtype=dtype)
                z = mix_shared_noise(z, common, shared_noise)
        else:
            if isinstance(latents, torch.Tensor):  # the content noise; the motion noise from the generator
                latents = (latents, randn_tensor(shape, generator=generator, device=device, dtype=dtype))
            if not (isinstance(latents, (tuple, list)) and len(latents) == 2
                    and all(isinstance(x, torch.Tensor) for x in latents)):  # fmt: skip
                raise invalid("latents", type(latents).__name__, "must be a tensor or a (content, motion) pair")
            z, m = (x.to(device=device, dtype=dtype) for x in latents)
            if z.shape != shape or m.shape != shape:
                raise invalid("latents", (tuple(z.shape), tuple(m.shape)), f"must both have shape {shape}")
        return torch.cat([z, m]) * self.scheduler.init_noise_sigma
