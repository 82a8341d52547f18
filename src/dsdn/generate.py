"""Generate one video file from a prompt: the library function behind ``dsdn generate``."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .devices import check_device, resolve_device
from .errors import DSDNInputError, check_choice, check_float, check_int, check_seed, check_size, invalid
from .fields import option
from .options import check_cache_options, check_sampling_options, source_settings
from .schedulers import SCHEDULERS, make_scheduler

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)
MAX_LONG_FRAMES = 1024  # frames of one clip (longer ones are denoised in context windows)


@dataclass
class GenerateConfig:
    """Everything that determines one generated video (validated on construction)."""

    prompt: str = option(doc="What the video shows.", argument=True)
    prompt_at: tuple[str, ...] = option(
        (), "Prompt travel: 'FRAME:TEXT' makes TEXT the prompt from FRAME on (repeat for more changes).", multiple=True
    )
    travel_blend: int | None = option(
        None, "With --prompt-at: frames each prompt change is blended over, centred on its frame (default 8)."
    )
    model: str | None = option(
        None, "DSDN model folder (saved by DSDNPipeline.save_pretrained).", flags=("--model", "-m")
    )
    base: str | None = option(None, "SD-1.x base (folder or .safetensors) when --model holds DSDN weights only.")
    out: str = option("dsdn.mp4", "Output: .mp4, .gif, .webp, or a folder name for png frames.", flags=("--out", "-o"))
    negative_prompt: str = option("", "Steer away from this text.")
    motion_prompt: str | None = option(None, "Separate text for the motion stream only.")
    image: str | None = option(None, "Image-to-video: the picture the clip starts from (resized to the video's size).")
    source_video: str | None = option(
        None, "Video-to-video: the clip to redraw (a video file or a folder of PNG frames; its first --frames).",
        name="video",
    )  # fmt: skip
    motion_video: str | None = option(
        None, "Motion transfer: the clip whose motion the prompt's content takes (a video file or PNG frames).",
        name="motion_from",
    )  # fmt: skip
    strength: float | None = option(
        None, "With --video or --motion-from: the share redrawn, in (0, 1] (default 0.6; 0.8 with --motion-from)."
    )
    motion_hold: float | None = option(
        None,
        "With --video or --motion-from: the share of the steps the motion stream holds the clip's motion "
        "(default 0; 0.5 with --motion-from).",
    )
    frames: int = option(8, "Number of frames (>= 2).")
    context_frames: int | None = option(
        None, "Long videos: denoise windows of this many frames (e.g. 8), fused at every step."
    )
    context_stride: int | None = option(None, "With --context-frames: frames between windows (default: half a window).")
    context_anchor: bool = option(
        False, "With --context-frames: every later window also holds frame 1 (its look).", flags=("--context-anchor",)
    )
    loop: bool = option(
        False, "With --context-frames: the windows wrap around, so the last frame leads into the first.",
        flags=("--loop",),
    )  # fmt: skip
    height: int | None = option(None, "Height in pixels (default: the model's native size).")
    width: int | None = option(None, "Width in pixels (default: the model's native size).")
    steps: int | None = option(None, "Denoising steps (default: the model's, else 25).")
    guidance: float | None = option(
        None, "Classifier-free guidance (<= 1 disables it; default: the model's, else 7.5)."
    )
    lora_scale: float = option(1.0, "Content increment step length λ (0 = base UNet only).")
    motion_coherence: float | None = option(None, "Motion coherence γ in [0, 1] (default: the model's).")
    combiner: str | None = option(
        None, "Motion combiner: causal (anchored on frame 1) or least_squares (default: the model's)."
    )
    stream_sync: float | None = option(
        None,
        "In [0, 1]: how far both streams are pulled onto the combiner's one video at every step (0 = combined "
        "only at the end; default: the model's).",
    )
    shared_noise: float | None = option(
        None, "In [0, 1]: share of the content noise common to all frames (default: the model's)."
    )
    cross_frame_attention: bool | None = option(
        None,
        "The content stream's self-attention reads each clip's first frame (Text2Video-Zero's; default: the model's).",
        flags=("--cross-frame-attention/--no-cross-frame-attention",),
    )
    carry_from: float | None = option(
        None,
        "In [0, 1]: share of the steps after which later frames take frame 1's object, moved, instead of "
        "redrawing it (needs stream sync > 0; 1 = never; default: the model's).",
    )
    early_coherence: float | None = option(
        None,
        "In [0, 1]: γ of the synced video during the first --early-until of the steps, where the layout is "
        "decided (needs stream sync > 0; default: the model's, 1 with --image, unless --motion-coherence is given).",
    )
    early_until: float | None = option(
        None, "In [0, 1]: share of the steps synced with --early-coherence (0 = none; default: the model's)."
    )
    motion_guidance: float | None = option(
        None, "Guidance of the motion stream alone (default: the model's, else --guidance)."
    )
    cache_interval: int = option(
        1, "Step cache: both UNets run whole every N steps, their deep levels reused between (1: off)."
    )
    cache_depth: int = option(1, "With --cache-interval: levels at each end that run on cached steps.")
    scheduler: str = option("ddim", "Sampler: " + ", ".join(SCHEDULERS) + ".")
    seed: int = option(0, "Random seed; the same seed and settings give the same video.")
    fps: int = option(8, "Frames per second of the written video.")
    device: str = option("auto", "auto, cpu, cuda, cuda:N, mps.")

    def __post_init__(self):
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise invalid(
                "prompt", self.prompt, "must be a non-empty text", "Describe the video, e.g. 'a red ball moving left'."
            )
        check_choice("scheduler", self.scheduler, SCHEDULERS)
        # Checked here, before any model is loaded, so a typo fails in milliseconds.
        check_int("frames", self.frames, 2, MAX_LONG_FRAMES)
        self.travel = travel_of(self.prompt, self.prompt_at, self.frames, self.travel_blend)
        if self.context_frames is not None:
            check_int("context_frames", self.context_frames, 2)
            if self.context_stride is not None:
                check_int("context_stride", self.context_stride, 1, self.context_frames)
        elif self.context_stride is not None:
            raise invalid("context_stride", self.context_stride, "needs --context-frames (the windows' length)")
        if self.loop and (self.context_frames is None or self.context_frames >= self.frames):
            raise invalid("loop", self.loop, "needs --context-frames below --frames (windows that wrap around)",
                          "E.g. --frames 16 --context-frames 8 --loop.")  # fmt: skip
        if self.steps is not None:
            check_int("steps", self.steps, 1)
        for name in ("height", "width"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        check_float("lora_scale", self.lora_scale)
        check_cache_options(self.cache_interval, self.cache_depth)
        check_sampling_options(self.guidance, self.motion_guidance, self.motion_coherence, self.combiner,
                               self.stream_sync, self.shared_noise, self.carry_from, self.early_coherence,
                               self.early_until)  # fmt: skip
        from .video_io import MAX_FPS, check_output_path, check_sidecar_path

        check_output_path(self.out)
        check_sidecar_path(self.out)
        check_int("fps", self.fps, 1, MAX_FPS)
        check_seed(self.seed)
        check_device(self.device)
        given = [f"--{name}" for name, v in (("image", self.image), ("video", self.source_video),
                                             ("motion-from", self.motion_video)) if v is not None]  # fmt: skip
        if len(given) > 1:
            raise DSDNInputError(f"give one of --image, --video and --motion-from, not {' and '.join(given)}.")
        if self.image is not None:
            if self.stream_sync is not None and self.stream_sync <= 0.0:
                raise invalid("stream_sync", self.stream_sync, "must be > 0 with --image (frame 1 is held through it)")
            check_image_file("image", self.image)
        self.source_settings()
        self.source_frames()  # decoded once, here: a clip that cannot be read fails before any model loads
        self._check_model_limits()

    def source_settings(self) -> tuple[float, float]:
        """``(strength, motion_hold)`` of this run, the pipeline's defaults filled in."""
        kind = "motion" if self.motion_video is not None else "video" if self.source_video is not None else None
        return source_settings(kind, self.strength, self.motion_hold, "--video or --motion-from")

    def source_frames(self) -> np.ndarray | None:
        """The first ``frames`` frames of the ``--video`` or ``--motion-from`` clip, decoded once; ``None`` without
        one."""
        path, name = (self.source_video, "video") if self.motion_video is None else (self.motion_video, "motion_from")
        if path is not None and getattr(self, "_source", None) is None:
            self._source = read_source_video(path, self.frames, name)
        return getattr(self, "_source", None)

    def _check_model_limits(self) -> None:
        """Frames, size, steps and the prompt's words against what the model folder allows, read from its JSON
        and vocabulary files before any weight loads (a folder without its base is checked once it has loaded)."""
        from .model_layout import model_parts

        model_dir = resolve_model_dir(self.model)
        limits = model_limits(model_dir)
        base = model_parts(model_dir)[1]
        if base is not None:  # a closed vocabulary refuses an unknown word before any weight loads
            from .vocabulary import in_model_words, read_vocabulary

            known = read_vocabulary(base)
            if known is not None:
                texts = [self.prompt] if self.travel is None else self.travel.prompts
                in_model_words(known, prompt=texts, negative_prompt=[self.negative_prompt],
                               motion_prompt=None if self.motion_prompt is None else [self.motion_prompt])  # fmt: skip
        if "max_frames" in limits:
            if self.context_frames is None and self.frames > limits["max_frames"]:
                raise invalid("frames", self.frames, f"must be an integer <= {limits['max_frames']}",
                              "Longer clips are denoised in windows: add --context-frames 8.")  # fmt: skip
            if self.context_frames is not None:  # an anchored window holds frame 1 besides its own frames
                check_int("context_frames", self.context_frames, 2, limits["max_frames"] - int(self.context_anchor))
        if "max_steps" in limits and self.steps is not None:
            check_int("steps", self.steps, 1, limits["max_steps"])
        for name in ("height", "width"):
            if getattr(self, name) is not None:
                check_size(name, getattr(self, name), limits.get("size_factor"))


def travel_of(prompt: str, prompt_at: tuple[str, ...], frames: int, blend: int | None):
    """The :class:`~dsdn.prompt_travel.PromptTravel` of ``prompt`` (from frame 0) and each ``--prompt-at FRAME:TEXT``;
    ``None`` without any. Keys must rise and lie in the clip; checked before any model loads."""
    from .prompt_travel import PromptTravel

    if not prompt_at:
        if blend is not None:
            raise invalid("travel_blend", blend, "needs --prompt-at (prompt travel)")
        return None
    travel = {0: prompt}
    for entry in prompt_at:
        frame, sep, text = str(entry).partition(":")
        if not sep or not (frame.strip().isascii() and frame.strip().isdigit()):  # ('²' is a digit int() refuses)
            raise invalid("prompt_at", entry, "must be FRAME:TEXT, e.g. '16:a blue circle bouncing'")
        if int(frame) >= frames:
            raise invalid("prompt_at", entry, f"FRAME must be a frame of the clip, below --frames {frames}")
        if int(frame) <= max(travel):
            raise invalid("prompt_at", entry, f"must come after frame {max(travel)}: give the changes in frame order, "
                          "one prompt per frame")  # fmt: skip
        travel[int(frame)] = text.strip()
    return PromptTravel.parse(travel, frames, blend)


def check_image_file(name: str, path: str) -> None:
    """``path`` names a picture PIL can read (checked before any model loads)."""
    from PIL import Image, UnidentifiedImageError

    file = Path(path).expanduser()
    if not file.is_file():
        raise invalid(name, path, "must be an image file (PNG, JPEG, WebP, ...)", "No such file.")
    try:
        with Image.open(file) as im:
            im.verify()
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise invalid(name, path, "must be an image file PIL can read", f"It could not be read: {e}.") from None


def read_source_video(path: str, frames: int, name: str = "video") -> np.ndarray:
    """The first ``frames`` frames of the video file (or folder of PNG frames) at ``path``, uint8 ``(F, H, W, 3)``;
    a one-line error naming the option ``name`` when it cannot be read or is shorter (checked before any model
    loads)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from .video_io import read_video

    source = Path(path).expanduser()
    try:
        if source.is_dir():
            files = sorted(source.glob("*.png"))[:frames]
            clip = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files]) if files else np.zeros((0,))
        elif source.is_file():
            clip = read_video(source, max_frames=frames)
        else:
            raise invalid(name, path, "must be a video file (MP4, GIF, WebM, ...) or a folder of PNG frames",
                          "No such file.")  # fmt: skip
    except (OSError, ValueError, UnidentifiedImageError) as e:
        raise invalid(name, path, "must be a video file PyAV can read", f"It could not be read: {e}.") from None
    if len(clip) < frames:
        raise invalid(name, path, f"must have at least --frames {frames} frames", f"It has {len(clip)}.")
    return clip[:frames]


def default_model_dir() -> Path:
    """The shipped default model: a tiny DSDN trained on the toy world (see its MODEL_CARD.md)."""
    return Path(__file__).parent / "default_model"


def resolve_model_dir(model: str | None) -> Path:
    """The model folder to load: ``model``, or the shipped default model when ``None``."""
    if model is None:
        path = default_model_dir()
        if not (path / "config.json").is_file():
            raise DSDNInputError(
                f"the shipped default model is missing from {path} (a broken install?): "
                "reinstall dsdn, or pass --model DIR, a folder saved by DSDNPipeline.save_pretrained."
            )
        return path
    path = Path(model).expanduser()
    if not path.is_dir():
        raise DSDNInputError(f"--model={model!r} is not a folder: pass a folder saved by DSDNPipeline.save_pretrained.")
    return path


def model_limits(model_dir: Path) -> dict[str, int]:
    """``max_frames``, ``max_steps`` and ``size_factor`` of a model folder, from its JSON files only; a key is
    missing when its file is (e.g. no ``base/``) or unreadable (the loader names the damage)."""
    from .loading import base_limits, read_json
    from .model_layout import model_parts

    adapter, base = model_parts(model_dir)
    limits, config = {} if base is None else base_limits(base), read_json(adapter / "config.json")
    frames = config.get("motion_frame_positions") if isinstance(config, dict) else None
    if isinstance(frames, int) and frames > 0:
        limits["max_frames"] = frames
    return limits


def model_toy_world(model_dir: Path) -> str | None:
    """The toy-world version a model folder's config records it learned (``toy_world``), or ``None`` when
    it records none (trained on other data, or saved before it was recorded)."""
    from .loading import read_json
    from .model_layout import adapter_folder

    config = read_json(adapter_folder(model_dir) / "config.json")
    world = config.get("toy_world") if isinstance(config, dict) else None
    return world if isinstance(world, str) else None


def load_pipeline(model: str | None = None, base: str | None = None, device: str = "auto"):
    """The :class:`~dsdn.pipeline.DSDNPipeline` of ``model`` (default: the shipped model) on ``device``."""
    from .pipeline import DSDNPipeline

    pipe = DSDNPipeline.from_pretrained(resolve_model_dir(model), base=base)
    return pipe.to(resolve_device(device))


def generate_video(cfg: GenerateConfig, progress: bool = True, pipe=None) -> tuple[Path, Path]:
    """Load the model (unless ``pipe``, already loaded from ``cfg.model``, is given), generate, write
    the video and its JSON sidecar; returns both paths."""
    model_dir = resolve_model_dir(cfg.model)
    t0 = time.perf_counter()
    if pipe is None:
        pipe = load_pipeline(cfg.model, cfg.base, cfg.device)
    pipe.scheduler = make_scheduler(cfg.scheduler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=not progress, desc="denoising")
    t_load = time.perf_counter() - t0
    import torch

    from .video_io import save_video, write_sidecar

    generator = torch.Generator("cpu").manual_seed(cfg.seed)
    steps = pipe.default_steps() if cfg.steps is None else cfg.steps
    image = None
    if cfg.image is not None:
        from PIL import Image

        with Image.open(Path(cfg.image).expanduser()) as im:
            image = im.convert("RGB")
    source = cfg.source_frames()
    carry_from, cross_frame = cfg.carry_from, cfg.cross_frame_attention
    if cfg.travel is not None:  # carry and cross-frame attention would hold the first prompt's look
        carry_from, cross_frame = cfg.travel.sampling_defaults(carry_from, cross_frame)
    sampling = pipe.sampling_settings(cfg.guidance, cfg.motion_guidance, cfg.motion_coherence, cfg.combiner,
                                      cfg.stream_sync, cfg.shared_noise, cross_frame, carry_from, cfg.early_coherence,
                                      cfg.early_until, cfg.image is not None)  # fmt: skip
    out = pipe(
        cfg.prompt if cfg.travel is None else dict(zip(cfg.travel.keys, cfg.travel.prompts)),
        travel_blend=cfg.travel_blend,
        negative_prompt=cfg.negative_prompt,
        motion_prompt=cfg.motion_prompt,
        image=image,
        video=source if cfg.motion_video is None else None,
        motion_video=source if cfg.motion_video is not None else None,
        strength=cfg.strength,
        motion_hold=cfg.motion_hold,
        num_frames=cfg.frames,
        context_frames=cfg.context_frames,
        context_stride=cfg.context_stride,
        context_anchor=cfg.context_anchor,
        loop=cfg.loop,
        height=cfg.height,
        width=cfg.width,
        num_inference_steps=steps,
        content_lora_scale=cfg.lora_scale,
        cache_interval=cfg.cache_interval,
        cache_depth=cfg.cache_depth,
        **sampling,
        generator=generator,
        output_type="np",
    )
    video = out.frames[0]  # (F, H, W, 3) in [0, 1]
    path = save_video(video, cfg.out, fps=cfg.fps)
    settings = asdict(cfg)
    if source is not None:  # the strength and hold the call used
        settings["strength"], settings["motion_hold"] = cfg.source_settings()
    settings.update(
        model=str(model_dir),
        steps=steps,
        height=int(video.shape[1]),
        width=int(video.shape[2]),
        guidance=sampling["guidance_scale"],
        motion_coherence=sampling["motion_coherence"],
        combiner=sampling["combiner"],
        stream_sync=sampling["stream_sync"],
        shared_noise=sampling["shared_noise"],
        cross_frame_attention=sampling["cross_frame_attention"],
        carry_from=sampling["carry_from"],
        early_coherence=sampling["early_coherence"],
        early_until=sampling["early_until"],
        motion_guidance=sampling["motion_guidance_scale"],
        load_seconds=round(t_load, 3),
        total_seconds=round(time.perf_counter() - t0, 3),
    )
    sidecar = write_sidecar(path, settings)
    logger.info("wrote %s and %s", path, sidecar)
    return path, sidecar
