"""The configs of ``dsdn train base``, ``dsdn train video`` and ``dsdn train peer``: every setting of a run,
its default, its help text (the commands' options are built from these fields) and its check, validated on
construction. Torch-free: what a check needs beyond the standard library is imported when it runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..devices import check_device
from ..errors import DSDNInputError, check_choice, check_float, check_int, check_seed, check_size, invalid
from ..fields import option
from ..model_layout import adapter_folder
from ..options import COMBINERS
from ..paths import check_output_folder
from ..vocabulary import VOCABULARY_FILE

DEFAULT_VALIDATION_PROMPTS = (
    "a red circle moving right",
    "a green square moving left",
    "a blue digit one moving up",
    "a yellow triangle moving down",
    "a white digit five moving left",
    "a red digit eight moving up",
    "a green circle moving down",
    "a blue square moving right",
)


@dataclass
class BaseTrainConfig:
    """Everything that determines a tiny-base run."""

    out: str = option("outputs/tiny-base", "Folder for the SD-format base (save_pretrained layout).")
    seed: int = option(0, "Seed of the world, the initialisation and the batches.")
    vae_steps: int = option(3000, "Autoencoder training steps.")
    vae_batch: int = option(16, "Frames per autoencoder step.")
    vae_lr: float = 1e-3
    unet_steps: int = option(6000, "Text encoder + UNet2D training steps.")
    unet_batch: int = option(32, "Frames per text encoder + UNet2D step.")
    unet_lr: float = option(5e-4, "Peak learning rate of the text encoder + UNet2D stage (cosine decay).")
    latent_pool_clips: int = option(3000, "Toy-world clips encoded once for the UNet stage.")
    num_frames: int = 8
    size: int = 64
    text_width: int = 64
    unet_channels: tuple[int, ...] = (32, 64, 64)
    vae_channels: tuple[int, ...] = (16, 32, 64)
    text_token_weight: float = option(
        0.1, "Weight of the token-identity term that keeps every word (motion words too) in the text states."
    )
    text_bow_weight: float = option(
        0.0, "Weight of a bag-of-words term: the caption's words must be read from the mean of its states."
    )
    snr_gamma: float = option(
        0.0, "Min-SNR weighting of the denoising loss with this gamma (5 is usual; 0: plain MSE)."
    )
    pooled_text: bool = option(
        False, "Also add the attention-pooled caption to the UNet's timestep embedding (diffusers' 'text' type)."
    )
    toy_world: str = option("v1", "Toy-world version whose frames and captions it learns: v1, v2 or v3.")
    shape_share: float | None = option(
        None,
        "Share of its toy-world clips that show a solid shape (circle, square, triangle), not a digit "
        "(default: every object equally likely, 3 of 13).",
    )
    vae_from: str | None = option(
        None, "Take the VAE from this base folder instead of training one (skips the first stage)."
    )
    init_from: str | None = option(
        None, "Start from this base's VAE, text encoder and UNet (train them further; skips the VAE stage)."
    )
    freeze_text: bool = option(
        False,
        "With --init-from: keep its text encoder as it is and train the UNet only (a DSDN model on that base then "
        "sees the same caption states).",
        flags=("--freeze-text",),
    )
    dprime_every: int = option(0, "Also log the direction words' d' every N text+UNet steps (0: only at the end).")
    checkpoint_every: int = option(500, "Save a checkpoint of the running stage every N steps (0: never).")
    keep_checkpoints: int = 2
    resume: bool = option(False, "Continue from the newest checkpoint in --out.")
    device: str | None = option(None, "Torch device (default: CUDA when present, else CPU).")

    def __post_init__(self):
        from ..data.toy_world import VERSIONS

        for name in ("vae_steps", "vae_batch", "unet_steps", "unet_batch", "text_width", "latent_pool_clips"):
            check_int(name, getattr(self, name), 1)
        self.unet_channels = tuple(self.unet_channels)
        self.vae_channels = tuple(self.vae_channels)
        check_float("text_token_weight", self.text_token_weight, 0.0)
        check_float("text_bow_weight", self.text_bow_weight, 0.0)
        check_float("snr_gamma", self.snr_gamma, 0.0)
        for name in ("vae_lr", "unet_lr"):
            if check_float(name, getattr(self, name), 0.0) == 0.0:
                raise invalid(name, getattr(self, name), "must be greater than 0")
        check_choice("toy_world", self.toy_world, VERSIONS)
        if self.shape_share is not None:
            check_float("shape_share", self.shape_share, 0.0, 1.0)
        check_int("dprime_every", self.dprime_every, 0)
        check_int("checkpoint_every", self.checkpoint_every, 0)
        check_int("keep_checkpoints", self.keep_checkpoints, 1)
        check_seed(self.seed)
        check_output_folder("out", self.out)
        if self.device is not None:
            check_device(self.device)
        if self.vae_from is not None and not (Path(self.vae_from) / "vae" / "config.json").is_file():
            raise invalid("vae_from", self.vae_from, "must be a base folder with a vae/ subfolder")
        if self.init_from is not None:
            if self.vae_from is not None:
                raise invalid("init_from", self.init_from, "takes the VAE from that base too: leave out vae_from")
            parts = [Path(self.init_from) / d / "config.json" for d in ("vae", "text_encoder", "unet")]
            if not all(p.is_file() for p in parts) or not (Path(self.init_from) / VOCABULARY_FILE).is_file():
                raise invalid("init_from", self.init_from, "must be a base folder written by `dsdn train base`")
        if self.freeze_text and self.init_from is None:
            raise invalid("freeze_text", self.freeze_text, "keeps a trained text encoder: it needs init_from")


@dataclass(kw_only=True)
class ClipData:
    """Where a run's training clips come from: the toy world or a folder of videos (DSDN's and the peers')."""

    data: str = option("toy", "'toy' (the toy world's train split) or a folder of videos.")
    captions: str | None = option(None, "CSV/JSONL captions file (default: DATA/captions.csv|jsonl).")
    video_column: str = option("video", "Captions column with the video file (WebVid: videoid).")
    caption_column: str = option("caption", "Captions column with the text (WebVid: name).")
    toy_clips: int = option(4000, "Toy-world clips to train on (with --data toy).")
    toy_world: str = option(
        "v1", "Toy-world version (with --data toy): v1, v2 (mended captions and bounce) or v3 (larger objects)."
    )
    toy_transpose: bool = option(
        False, "Swap the toy clips' height and width, captions unchanged (a diagnostic: 'up' then moves sideways)."
    )
    toy_motions: tuple[str, ...] | None = option(
        None, "Only these toy-world motions, comma-separated (e.g. left,right,up,down: no bouncing).", comma_list=True
    )
    num_frames: int = option(8, "Frames per training clip.", name="frames")
    frame_stride: int = option(1, "Take every N-th frame of real videos.")
    size: int | None = option(None, "Frame size in pixels (default: the base's native size).")

    def check_data(self) -> None:
        """The checks of the fields above that need no base (the toy world's options, a readable captions file)."""
        from ..data.toy_world import VERSIONS
        from .data import check_toy_options

        for name, low in (("toy_clips", 1), ("num_frames", 2), ("frame_stride", 1)):
            check_int(name, getattr(self, name), low)
        check_choice("toy_world", self.toy_world, VERSIONS)
        check_toy_options(self)
        if self.data != "toy":
            from ..data.video_folder import read_captions

            if not Path(self.data).expanduser().is_dir():
                raise invalid("data", self.data, "must be 'toy' or a folder of videos")
            read_captions(self.data, self.captions)  # a missing, unreadable or malformed file fails now


@dataclass(kw_only=True)
class VideoTrainConfig(ClipData):
    """Everything that determines a DSDN training run (validated on construction)."""

    base: str = option(doc="Frozen SD-1.x base: a diffusers folder or a single .safetensors file.")
    out: str = option("outputs/runs/dsdn-tiny", "Run folder: checkpoints, samples, metrics, final model/.")
    preset: str = option("tiny", "Adapter preset: tiny, sd15, or a YAML file.")
    steps: int = option(3000, "Optimisation steps in total (a resumed run continues to this).")
    stop_at: int | None = option(
        None, "Stop after this step, on the LR schedule of --steps; writes model/ there (--resume goes on)."
    )
    batch_size: int = option(8, "Clips per step and process.")
    lr: float = option(5e-4, "AdamW learning rate.")
    weight_decay: float = 1e-2
    lr_schedule: str = option("cosine", "cosine, linear or constant (after warm-up).")
    warmup_steps: int = option(100, "Linear LR warm-up steps.")
    max_grad_norm: float = option(1.0, "Gradient clipping norm (0 = off).")
    ema_decay: float = option(0.0, "EMA of the trained weights (0 = off, e.g. 0.999).")
    mixed_precision: str = option("no", "no, bf16 or fp16 (where the device supports it).")
    gradient_checkpointing: bool = option(False, "Trade compute for memory (useful for sd15).")
    text_dropout: float = 0.1
    motion_weight: float = 1.0
    combine_weight: float = option(
        0.0,
        "Weight of the combined video's error: the combiner's video from both streams' predictions against the "
        "clip, the denoiser stream sync 1 samples with (0 = off; see dsdn.objective).",
    )
    combiner: str | None = option(
        None,
        "Motion combiner the combine term uses, saved as the model's default (default: the preset's or "
        "--init-from model's).",
    )
    motion_coherence: float | None = option(
        None, "Motion coherence γ in [0, 1] the combine term uses, saved as the model's default."
    )
    snr_gamma: float = option(0.0, "Min-SNR-γ loss weighting (0 = off; 5 is usual).")
    motion_loss: str = option(
        "target",
        "Motion stream's error: 'target' (the scheduler's, as for content) or 'velocity' (measured on v, so that "
        "high-noise steps count).",
    )
    contrast_weight: float = option(
        0.0,
        "Weight of the motion stream's caption-contrast term: a caption with a direction word swapped must "
        "predict the clip worse (0 = off; see dsdn.objective).",
    )
    contrast_margin: float = option(0.2, "Relative margin of the caption-contrast term at the highest noise.")
    contrast_pairs: tuple[str, ...] = option(
        ("left:right", "up:down", "upwards:downwards", "rises:falls"),
        "Comma-separated word pairs the contrast term swaps.",
        comma_list=True,
    )
    shared_noise: float = option(
        0.0,
        "Mixed noise prior: share in [0, 1] of the content noise common to a clip's frames, in training and as "
        "the model's default when sampling (0 = independent frames).",
    )
    cross_frame_attention: bool = option(
        False,
        "Train (and by default sample) the content stream with cross-frame attention: each frame's "
        "self-attention reads its clip's first frame.",
    )
    train_content_lora: bool = option(
        True,
        "Train the content LoRA with the motion stream and interaction (--no-train-content-lora: it keeps its "
        "initial weights, e.g. those of --init-from, and only the motion parts learn).",
    )
    cache_latents: bool = option(True, "Encode every clip once before training.")
    checkpoint_every: int = option(250, "Steps between checkpoints.")
    keep_checkpoints: int = option(3, "Checkpoints kept (oldest are deleted).")
    validate_every: int = option(500, "Steps between validation samples and direction/colour checks (0 = never).")
    validation_prompts: tuple[str, ...] = DEFAULT_VALIDATION_PROMPTS
    validation_steps: int = 20
    seed: int = option(0, "Seed of initialisation, batches and noise.")
    resume: bool = option(False, "Continue from the newest checkpoint in --out.")
    init_from: str | None = option(
        None, "Start from a trained DSDN model folder (fine-tuning; fresh optimiser and LR schedule)."
    )
    log_every: int = 10

    def __post_init__(self):
        from ..objective import MOTION_LOSSES, parse_word_pairs

        for name, low in (("steps", 1), ("batch_size", 1), ("warmup_steps", 0), ("checkpoint_every", 1),
                          ("keep_checkpoints", 1), ("validate_every", 0), ("validation_steps", 1),
                          ("log_every", 1)):  # fmt: skip
            check_int(name, getattr(self, name), low)
        if self.stop_at is not None:
            check_int("stop_at", self.stop_at, 1, self.steps)
        check_seed(self.seed)
        check_output_folder("out", self.out)
        self.check_data()
        self._check_against_base_and_preset()
        if check_float("lr", self.lr, 0.0) == 0.0:
            raise invalid("lr", self.lr, "must be greater than 0")
        check_float("weight_decay", self.weight_decay, 0.0)
        check_float("max_grad_norm", self.max_grad_norm, 0.0)
        check_float("ema_decay", self.ema_decay, 0.0, 1.0)
        check_float("text_dropout", self.text_dropout, 0.0, 1.0)
        check_float("motion_weight", self.motion_weight, 0.0)
        check_float("combine_weight", self.combine_weight, 0.0)
        if self.combiner is not None:
            check_choice("combiner", self.combiner, COMBINERS)
        if self.motion_coherence is not None:
            check_float("motion_coherence", self.motion_coherence, 0.0, 1.0)
        check_float("snr_gamma", self.snr_gamma, 0.0)
        check_choice("motion_loss", self.motion_loss, MOTION_LOSSES)
        check_float("contrast_weight", self.contrast_weight, 0.0)
        check_float("contrast_margin", self.contrast_margin, 0.0)
        check_float("shared_noise", self.shared_noise, 0.0, 1.0)
        self.contrast_pairs = tuple(self.contrast_pairs)
        try:
            parse_word_pairs(self.contrast_pairs)
        except ValueError as e:
            raise DSDNInputError(str(e)) from None
        check_choice("mixed_precision", self.mixed_precision, ("no", "bf16", "fp16"))
        check_choice("lr_schedule", self.lr_schedule, ("cosine", "constant", "linear"))
        if self.init_from is not None and not (adapter_folder(self.init_from) / "config.json").is_file():
            raise DSDNInputError(
                f"init_from={self.init_from!r} is not a DSDN model folder (no config.json): give one saved by a run "
                "(its model/) or the shipped one."
            )
        self.validation_prompts = tuple(self.validation_prompts)

    def _check_against_base_and_preset(self) -> None:
        """Size and frames against what the base, the preset (or --init-from model) and the data allow,
        from JSON and YAML files only: nothing is loaded and no clip is made before they pass."""
        from ..adapter import FRAME_POSITIONS
        from ..loading import base_limits, read_json
        from ..presets import resolve_preset

        resolve_preset(self.preset)  # a missing or broken preset file fails now, not after the data is made
        frames = FRAME_POSITIONS
        if self.init_from is not None:
            config = read_json(adapter_folder(self.init_from) / "config.json")
            frames = config.get("motion_frame_positions", frames) if isinstance(config, dict) else frames
        check_int("num_frames", self.num_frames, 2, frames if isinstance(frames, int) and frames > 0 else None)
        if self.size is None:
            return
        check_int("size", self.size, 8)
        check_size("size", self.size, base_limits(self.base).get("size_factor"))
        if self.data == "toy" and (self.size % 16 or self.size < 32):
            raise invalid("size", self.size, "the toy world needs a multiple of 16, >= 32")


@dataclass(kw_only=True)
class PeerTrainConfig(ClipData):
    """A peer training run (validated on construction)."""

    kind: str = option(doc="animatediff (MotionAdapter in the frozen base) or unet3d (one 3D UNet).")
    base: str | None = option(None, "Frozen SD-1.x base folder (default: the shipped model's base).")
    out: str | None = option(None, "Run folder: metrics.jsonl and the trained model/ (default: outputs/peers/KIND).")
    budget_s: float | None = option(None, "Wall-clock training budget in seconds (ends before --steps).")
    steps: int = option(3500, "Optimisation steps at most.")
    batch_size: int = option(4, "Clips per step and process.")
    lr: float = option(1e-3, "AdamW learning rate (cosine over the budget after warm-up).")
    weight_decay: float = 1e-2
    warmup_steps: int = option(100, "Linear LR warm-up steps.")
    max_grad_norm: float = 1.0
    ema_decay: float = option(0.995, "EMA of the trained weights (0 = off).")
    text_dropout: float = 0.1
    seed: int = option(0, "Seed of initialisation, batches and noise.")
    log_every: int = 10
    checkpoint_every: int = option(250, "Write a checkpoint every N steps (the last 2 are kept).")
    keep_checkpoints: int = 2
    resume: bool = option(False, "Continue from the newest checkpoint in --out.")

    def __post_init__(self):
        from ..peers import PEER_KINDS

        check_choice("kind", self.kind, PEER_KINDS)
        if self.out is None:
            self.out = f"outputs/peers/{self.kind}"
        for name, low in (("steps", 1), ("batch_size", 1), ("warmup_steps", 0), ("log_every", 1),
                          ("checkpoint_every", 1), ("keep_checkpoints", 1)):  # fmt: skip
            check_int(name, getattr(self, name), low)
        check_seed(self.seed)
        check_output_folder("out", self.out)
        if self.size is not None:
            check_int("size", self.size, 8)
        if self.budget_s is not None:
            check_float("budget_s", self.budget_s, 1.0)
        check_float("lr", self.lr, 0.0)
        check_float("weight_decay", self.weight_decay, 0.0)
        check_float("max_grad_norm", self.max_grad_norm, 0.0)
        check_float("ema_decay", self.ema_decay, 0.0, 1.0)
        check_float("text_dropout", self.text_dropout, 0.0, 1.0)
        self.check_data()
