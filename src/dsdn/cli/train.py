"""``dsdn train``: the tiny base, DSDN itself, and the benchmark's peers."""

from __future__ import annotations

from typing import Optional

import typer

from .common import TOY_WORLD_HELP, app, boundary

train_app = typer.Typer(help="Train the tiny base or DSDN itself.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("base", epilog="Example: dsdn train base --out outputs/tiny-base")
@boundary
def train_base_cmd(
    out: str = typer.Option("outputs/tiny-base", help="Folder for the SD-format base (save_pretrained layout)."),
    vae_steps: int = typer.Option(3000, help="Autoencoder training steps."),
    vae_batch: int = typer.Option(16, help="Frames per autoencoder step."),
    unet_steps: int = typer.Option(6000, help="Text encoder + UNet2D training steps."),
    unet_batch: int = typer.Option(32, help="Frames per text encoder + UNet2D step."),
    unet_lr: float = typer.Option(5e-4, help="Peak learning rate of the text encoder + UNet2D stage (cosine decay)."),
    latent_pool_clips: int = typer.Option(3000, help="Toy-world clips encoded once for the UNet stage."),
    text_token_weight: float = typer.Option(
        0.1, help="Weight of the token-identity term that keeps every word (motion words too) in the text states."
    ),
    text_bow_weight: float = typer.Option(
        0.0, help="Weight of a bag-of-words term: the caption's words must be read from the mean of its states."
    ),
    snr_gamma: float = typer.Option(
        0.0, help="Min-SNR weighting of the denoising loss with this gamma (5 is usual; 0: plain MSE)."
    ),
    pooled_text: bool = typer.Option(
        False, help="Also add the attention-pooled caption to the UNet's timestep embedding (diffusers' 'text' type)."
    ),
    toy_world: str = typer.Option("v1", help="Toy-world version whose frames and captions it learns: v1, v2 or v3."),
    vae_from: Optional[str] = typer.Option(
        None, help="Take the VAE from this base folder instead of training one (skips the first stage)."
    ),
    init_from: Optional[str] = typer.Option(
        None, help="Start from this base's VAE, text encoder and UNet (train them further; skips the VAE stage)."
    ),
    freeze_text: bool = typer.Option(
        False,
        "--freeze-text",
        help="With --init-from: keep its text encoder as it is and train the UNet only (a "
        "DSDN model on that base then sees the same caption states).",
    ),
    dprime_every: int = typer.Option(
        0, help="Also log the direction words' d' every N text+UNet steps (0: only at the end)."
    ),
    checkpoint_every: int = typer.Option(500, help="Save a checkpoint of the running stage every N steps (0: never)."),
    resume: bool = typer.Option(False, help="Continue from the newest checkpoint in --out."),
    device: Optional[str] = typer.Option(None, help="Torch device (default: CUDA when present, else CPU)."),
    seed: int = typer.Option(0, help="Seed of the world, the initialisation and the batches."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Train the tiny SD-format base (VAE, then text encoder + UNet2D) from scratch on the toy world."""
    from ..training.base import BaseTrainConfig, train_base

    cfg = BaseTrainConfig(
        out=out, seed=seed, vae_steps=vae_steps, vae_batch=vae_batch, unet_steps=unet_steps,
        unet_batch=unet_batch, unet_lr=unet_lr, latent_pool_clips=latent_pool_clips,
        text_token_weight=text_token_weight, text_bow_weight=text_bow_weight, snr_gamma=snr_gamma,
        pooled_text=pooled_text, toy_world=toy_world, vae_from=vae_from, init_from=init_from,
        freeze_text=freeze_text, dprime_every=dprime_every, checkpoint_every=checkpoint_every, resume=resume, device=device,
    )  # fmt: skip
    path = train_base(cfg, progress=not quiet)
    typer.echo(f"wrote {path}")


@train_app.command("video", epilog=(
    "Example: dsdn train video --base outputs/tiny-base --out outputs/runs/dsdn-tiny\n\n"
    "Many GPUs: accelerate launch -m dsdn train video --base ... --preset sd15 --data clips/ --mixed-precision bf16"
))  # fmt: skip
@boundary
def train_video_cmd(
    base: str = typer.Option(..., help="Frozen SD-1.x base: a diffusers folder or a single .safetensors file."),
    out: str = typer.Option("outputs/runs/dsdn-tiny", help="Run folder: checkpoints, samples, metrics, final model/."),
    preset: str = typer.Option("tiny", help="Adapter preset: tiny, sd15, or a YAML file."),
    data: str = typer.Option("toy", help="'toy' (the toy world's train split) or a folder of videos."),
    captions: Optional[str] = typer.Option(None, help="CSV/JSONL captions file (default: DATA/captions.csv|jsonl)."),
    video_column: str = typer.Option("video", help="Captions column with the video file (WebVid: videoid)."),
    caption_column: str = typer.Option("caption", help="Captions column with the text (WebVid: name)."),
    toy_clips: int = typer.Option(4000, help="Toy-world clips to train on (with --data toy)."),
    toy_world: str = typer.Option("v1", help=TOY_WORLD_HELP),
    toy_transpose: bool = typer.Option(
        False, help="Swap the toy clips' height and width, captions unchanged (a diagnostic: 'up' then moves sideways)."
    ),
    toy_motions: Optional[str] = typer.Option(
        None, help="Only these toy-world motions, comma-separated (e.g. left,right,up,down: no bouncing)."
    ),
    frames: int = typer.Option(8, help="Frames per training clip."),
    frame_stride: int = typer.Option(1, help="Take every N-th frame of real videos."),
    size: Optional[int] = typer.Option(None, help="Frame size in pixels (default: the base's native size)."),
    steps: int = typer.Option(3000, help="Optimisation steps in total (a resumed run continues to this)."),
    stop_at: Optional[int] = typer.Option(
        None, help="Stop after this step, on the LR schedule of --steps; writes model/ there (--resume goes on)."
    ),
    batch_size: int = typer.Option(8, help="Clips per step and process."),
    lr: float = typer.Option(5e-4, help="AdamW learning rate."),
    warmup_steps: int = typer.Option(100, help="Linear LR warm-up steps."),
    lr_schedule: str = typer.Option("cosine", help="cosine, linear or constant (after warm-up)."),
    max_grad_norm: float = typer.Option(1.0, help="Gradient clipping norm (0 = off)."),
    ema_decay: float = typer.Option(0.0, help="EMA of the trained weights (0 = off, e.g. 0.999)."),
    snr_gamma: float = typer.Option(0.0, help="Min-SNR-γ loss weighting (0 = off; 5 is usual)."),
    combine_weight: float = typer.Option(
        0.0,
        help="Weight of the combined video's error: the combiner's video from both streams' predictions "
        "against the clip, the denoiser stream sync 1 samples with (0 = off; see dsdn.objective).",
    ),
    combiner: Optional[str] = typer.Option(
        None,
        help="Motion combiner the combine term uses, saved as the model's default (default: the preset's "
        "or --init-from model's).",
    ),
    motion_coherence: Optional[float] = typer.Option(
        None, help="Motion coherence γ in [0, 1] the combine term uses, saved as the model's default."
    ),
    motion_loss: str = typer.Option(
        "target",
        help="Motion stream's error: 'target' (the scheduler's, as for content) or 'velocity' (measured on v, "
        "so that high-noise steps count).",
    ),
    contrast_weight: float = typer.Option(
        0.0,
        help="Weight of the motion stream's caption-contrast term: a caption with a direction word swapped "
        "must predict the clip worse (0 = off; see dsdn.objective).",
    ),
    contrast_margin: float = typer.Option(
        0.2, help="Relative margin of the caption-contrast term at the highest noise."
    ),
    contrast_pairs: str = typer.Option(
        "left:right,up:down,upwards:downwards,rises:falls", help="Comma-separated word pairs the contrast term swaps."
    ),
    shared_noise: float = typer.Option(
        0.0,
        help="Mixed noise prior: share in [0, 1] of the content noise common to a clip's frames, in training "
        "and as the model's default when sampling (0 = independent frames).",
    ),
    cross_frame_attention: bool = typer.Option(
        False,
        help="Train (and by default sample) the content stream with cross-frame attention: each frame's "
        "self-attention reads its clip's first frame.",
    ),
    mixed_precision: str = typer.Option("no", help="no, bf16 or fp16 (where the device supports it)."),
    gradient_checkpointing: bool = typer.Option(False, help="Trade compute for memory (useful for sd15)."),
    cache_latents: bool = typer.Option(True, help="Encode every clip once before training."),
    checkpoint_every: int = typer.Option(250, help="Steps between checkpoints."),
    keep_checkpoints: int = typer.Option(3, help="Checkpoints kept (oldest are deleted)."),
    validate_every: int = typer.Option(
        500, help="Steps between validation samples and direction/colour checks (0 = never)."
    ),
    seed: int = typer.Option(0, help="Seed of initialisation, batches and noise."),
    resume: bool = typer.Option(False, help="Continue from the newest checkpoint in --out."),
    init_from: Optional[str] = typer.Option(
        None, help="Start from a trained DSDN model folder (fine-tuning; fresh optimiser and LR schedule)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Train DSDN (content LoRA + motion stream + interaction) on videos over a frozen base."""
    from ..training.video import VideoTrainConfig, train_video

    cfg = VideoTrainConfig(
        base=base, out=out, preset=preset, data=data, captions=captions, video_column=video_column,
        caption_column=caption_column, toy_clips=toy_clips, toy_world=toy_world, toy_transpose=toy_transpose,
        toy_motions=toy_motions, num_frames=frames, frame_stride=frame_stride,
        size=size, steps=steps, stop_at=stop_at, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, lr_schedule=lr_schedule,
        max_grad_norm=max_grad_norm, ema_decay=ema_decay, snr_gamma=snr_gamma, combine_weight=combine_weight,
        combiner=combiner, motion_coherence=motion_coherence, motion_loss=motion_loss,
        contrast_weight=contrast_weight, contrast_margin=contrast_margin,
        contrast_pairs=tuple(p.strip() for p in contrast_pairs.split(",") if p.strip()), shared_noise=shared_noise,
        cross_frame_attention=cross_frame_attention, mixed_precision=mixed_precision,
        gradient_checkpointing=gradient_checkpointing, cache_latents=cache_latents,
        checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints, validate_every=validate_every,
        seed=seed, resume=resume, init_from=init_from,
    )  # fmt: skip
    path = train_video(cfg, progress=not quiet)
    typer.echo(f"wrote {path}")


@train_app.command("peer", epilog=(
    "Example: dsdn train peer --kind animatediff --out outputs/peers/animatediff --toy-world v3 --steps 3500"
))  # fmt: skip
@boundary
def train_peer_cmd(
    kind: str = typer.Option(..., help="animatediff (MotionAdapter in the frozen base) or unet3d (one 3D UNet)."),
    base: Optional[str] = typer.Option(None, help="Frozen SD-1.x base folder (default: the shipped model's base)."),
    out: str = typer.Option(..., help="Run folder: metrics.jsonl and the trained model/."),
    budget_s: Optional[float] = typer.Option(None, help="Wall-clock training budget in seconds (ends before --steps)."),
    steps: int = typer.Option(3500, help="Optimisation steps at most."),
    data: str = typer.Option("toy", help="'toy' (the toy world's train split) or a folder of videos."),
    toy_clips: int = typer.Option(4000, help="Toy-world clips to train on (with --data toy)."),
    toy_world: str = typer.Option("v1", help=TOY_WORLD_HELP),
    frames: int = typer.Option(8, help="Frames per training clip."),
    batch_size: int = typer.Option(4, help="Clips per step and process."),
    lr: float = typer.Option(1e-3, help="AdamW learning rate (cosine over the budget after warm-up)."),
    warmup_steps: int = typer.Option(100, help="Linear LR warm-up steps."),
    ema_decay: float = typer.Option(0.995, help="EMA of the trained weights (0 = off)."),
    seed: int = typer.Option(0, help="Seed of initialisation, batches and noise."),
    checkpoint_every: int = typer.Option(250, help="Write a checkpoint every N steps (the last 2 are kept)."),
    resume: bool = typer.Option(False, help="Continue from the newest checkpoint in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Train a benchmark peer (AnimateDiff-style or single-stream 3D UNet) on the same base and data as DSDN."""
    from ..training.peers import PeerTrainConfig, train_peer

    cfg = PeerTrainConfig(
        kind=kind, base=base, out=out, budget_s=budget_s, steps=steps, data=data, toy_clips=toy_clips,
        toy_world=toy_world, num_frames=frames, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, ema_decay=ema_decay, seed=seed,
        checkpoint_every=checkpoint_every, resume=resume,
    )  # fmt: skip
    path = train_peer(cfg, progress=not quiet)
    typer.echo(f"wrote {path}")
