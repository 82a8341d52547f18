"""``dsdn`` command line: thin wrappers that parse arguments, build a config and call the library."""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Callable, Optional

import typer

from .errors import DSDNInputError, DSDNRunError
from .paths import check_output_file, check_output_folder
from .schedulers import SCHEDULERS

app = typer.Typer(
    help="Text-to-video generation with the Dual-Stream Diffusion Net (DSDN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
TOY_WORLD_HELP = "Toy-world version (with --data toy): v1, v2 (mended captions and bounce) or v3 (larger objects)."


def _setup_logging(debug: bool, quiet: bool = False) -> None:
    """Our warnings at WARNING; the libraries' import-time chatter only with --debug; with --quiet, not even
    their progress bars (e.g. transformers' "Writing model shards")."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Read by the libraries when a command first imports them (nothing heavy is imported here)...
    if not debug:
        os.environ["TRANSFORMERS_VERBOSITY"] = os.environ["DIFFUSERS_VERBOSITY"] = "error"
    if quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    # ...and set directly when they are already imported (a second command in the same process).
    for name in ("diffusers.utils.logging", "transformers.utils.logging"):
        module = sys.modules.get(name)
        if module is not None:
            if not debug:
                module.set_verbosity_error()
            (module.disable_progress_bar if quiet else module.enable_progress_bar)()


EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 1, 2, 130


def _explain(error: BaseException) -> tuple[int, str]:
    """The exit code and the one line a user sees for an exception that ends a command."""
    torch = sys.modules.get("torch")  # not imported: the error cannot be torch's (and it is not loaded for this)
    out_of_memory = (MemoryError,) if torch is None else (MemoryError, torch.OutOfMemoryError)
    if isinstance(error, DSDNInputError):
        return EXIT_BAD_INPUT, str(error)
    if isinstance(error, DSDNRunError):
        return EXIT_FAILED, str(error)
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED, "interrupted; finished files are intact and unfinished ones were not renamed into place."
    if isinstance(error, out_of_memory):
        return EXIT_FAILED, ("out of memory: ask for fewer frames, a smaller size or batch, or another device "
                             f"({type(error).__name__}: {error}).")  # fmt: skip
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return EXIT_FAILED, f"{error.strerror or error}{where}. Fix it and rerun (--debug shows where it happened)."
    return EXIT_FAILED, (f"unexpected {type(error).__name__}: {error}. This is a bug in dsdn: rerun with --debug "
                         "for the traceback and report it.")  # fmt: skip


def _boundary(command: Callable) -> Callable:
    """The one error boundary of every command: logging set up from --debug, then any exception that
    ends the command becomes one line on stderr and an exit code (2 bad input, 1 failed, 130
    interrupted); --debug re-raises it with its traceback. Click's own usage errors pass through."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        debug = bool(kwargs.get("debug", False))
        _setup_logging(debug, quiet=bool(kwargs.get("quiet", False)))
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:  # the reader went away (`dsdn info | head`): stop quietly, as shell tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(code=EXIT_FAILED) from None
        except BaseException as e:
            # The parser's own exits and usage errors (Click's, or the copy of Click that Typer vendors) pass.
            if debug or isinstance(e, SystemExit) or type(e).__module__.split(".")[0] in ("click", "typer"):
                raise
            code, message = _explain(e)
            typer.echo("error: " + " ".join(message.split()), err=True)
            raise typer.Exit(code=code) from None

    return run


@app.command(epilog="Example: dsdn generate 'a red circle moving right' --model ./my-dsdn --out circle.mp4 --seed 1")
@_boundary
def generate(
    prompt: str = typer.Argument(..., help="What the video shows."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="DSDN model folder (saved by DSDNPipeline.save_pretrained)."),
    base: Optional[str] = typer.Option(None, help="SD-1.x base (folder or .safetensors) when --model holds DSDN weights only."),
    out: str = typer.Option("dsdn.mp4", "--out", "-o", help="Output: .mp4, .gif, .webp, or a folder name for png frames."),
    frames: int = typer.Option(8, help="Number of frames (>= 2)."),
    height: Optional[int] = typer.Option(None, help="Height in pixels (default: the model's native size)."),
    width: Optional[int] = typer.Option(None, help="Width in pixels (default: the model's native size)."),
    steps: int = typer.Option(25, help="Denoising steps."),
    seed: int = typer.Option(0, help="Random seed; the same seed and settings give the same video."),
    guidance: Optional[float] = typer.Option(
        None, help="Classifier-free guidance scale (<= 1 disables guidance; default: the model's, else 7.5)."
    ),
    lora_scale: float = typer.Option(1.0, help="Content increment step length λ (0 = base UNet only)."),
    motion_coherence: Optional[float] = typer.Option(None, help="Motion coherence γ in [0, 1] (default: the model's)."),
    combiner: Optional[str] = typer.Option(
        None, help="Motion combiner: causal (anchored on frame 1) or least_squares (default: the model's)."
    ),
    stream_sync: Optional[float] = typer.Option(
        None, help="In [0, 1]: how far both streams are pulled onto the combiner's one video at every step "
        "(0 = combined only at the end; default: the model's)."
    ),
    shared_noise: Optional[float] = typer.Option(
        None, help="In [0, 1]: share of the content noise common to all frames (default: the model's)."
    ),
    cross_frame_attention: Optional[bool] = typer.Option(
        None, "--cross-frame-attention/--no-cross-frame-attention",
        help="The content stream's self-attention reads each clip's first frame (Text2Video-Zero's; default: the model's)."
    ),
    motion_guidance: Optional[float] = typer.Option(
        None, help="Guidance of the motion stream alone (default: the model's, else --guidance)."
    ),
    scheduler: str = typer.Option("ddim", help="Sampler: " + ", ".join(SCHEDULERS) + "."),
    negative_prompt: str = typer.Option("", help="Steer away from this text."),
    motion_prompt: Optional[str] = typer.Option(None, help="Separate text for the motion stream only."),
    fps: int = typer.Option(8, help="Frames per second of the written video."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N, mps."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Generate a video from a text prompt and write it with a JSON sidecar of its settings."""
    from .generate import GenerateConfig, generate_video

    cfg = GenerateConfig(
        prompt=prompt, model=model, base=base, out=out, negative_prompt=negative_prompt, motion_prompt=motion_prompt,
        frames=frames, height=height, width=width, steps=steps, guidance=guidance, lora_scale=lora_scale,
        motion_coherence=motion_coherence, combiner=combiner, stream_sync=stream_sync, shared_noise=shared_noise,
        cross_frame_attention=cross_frame_attention, motion_guidance=motion_guidance, scheduler=scheduler,
        seed=seed, fps=fps, device=device,
    )  # fmt: skip
    path, sidecar = generate_video(cfg, progress=not quiet)
    typer.echo(f"wrote {path} (settings in {sidecar})")


train_app = typer.Typer(help="Train the tiny base or DSDN itself.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("base", epilog="Example: dsdn train base --out outputs/tiny-base")
@_boundary
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
    from .training.base import BaseTrainConfig, train_base

    cfg = BaseTrainConfig(
        out=out, seed=seed, vae_steps=vae_steps, vae_batch=vae_batch, unet_steps=unet_steps,
        unet_batch=unet_batch, unet_lr=unet_lr, latent_pool_clips=latent_pool_clips,
        text_token_weight=text_token_weight, text_bow_weight=text_bow_weight, snr_gamma=snr_gamma,
        pooled_text=pooled_text, toy_world=toy_world, vae_from=vae_from, init_from=init_from,
        dprime_every=dprime_every, checkpoint_every=checkpoint_every, resume=resume, device=device,
    )  # fmt: skip
    path = train_base(cfg, progress=not quiet)
    typer.echo(f"wrote {path}")


@train_app.command("video", epilog=(
    "Example: dsdn train video --base outputs/tiny-base --out outputs/runs/dsdn-tiny\n\n"
    "Many GPUs: accelerate launch -m dsdn train video --base ... --preset sd15 --data clips/ --mixed-precision bf16"
))  # fmt: skip
@_boundary
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
    batch_size: int = typer.Option(8, help="Clips per step and process."),
    lr: float = typer.Option(5e-4, help="AdamW learning rate."),
    warmup_steps: int = typer.Option(100, help="Linear LR warm-up steps."),
    lr_schedule: str = typer.Option("cosine", help="cosine, linear or constant (after warm-up)."),
    max_grad_norm: float = typer.Option(1.0, help="Gradient clipping norm (0 = off)."),
    ema_decay: float = typer.Option(0.0, help="EMA of the trained weights (0 = off, e.g. 0.999)."),
    snr_gamma: float = typer.Option(0.0, help="Min-SNR-γ loss weighting (0 = off; 5 is usual)."),
    combine_weight: float = typer.Option(
        0.0, help="Weight of the combined video's error: the combiner's video from both streams' predictions "
        "against the clip, the denoiser stream sync 1 samples with (0 = off; see dsdn.objective)."),
    combiner: Optional[str] = typer.Option(
        None, help="Motion combiner the combine term uses, saved as the model's default (default: the preset's "
        "or --init-from model's)."),
    motion_coherence: Optional[float] = typer.Option(
        None, help="Motion coherence γ in [0, 1] the combine term uses, saved as the model's default."),
    motion_loss: str = typer.Option(
        "target",
        help="Motion stream's error: 'target' (the scheduler's, as for content) or 'velocity' (measured on v, "
        "so that high-noise steps count).",
    ),
    contrast_weight: float = typer.Option(
        0.0, help="Weight of the motion stream's caption-contrast term: a caption with a direction word swapped "
        "must predict the clip worse (0 = off; see dsdn.objective)."),
    contrast_margin: float = typer.Option(0.2, help="Relative margin of the caption-contrast term at the highest noise."),
    contrast_pairs: str = typer.Option(
        "left:right,up:down,upwards:downwards,rises:falls", help="Comma-separated word pairs the contrast term swaps."
    ),
    shared_noise: float = typer.Option(
        0.0, help="Mixed noise prior: share in [0, 1] of the content noise common to a clip's frames, in training "
        "and as the model's default when sampling (0 = independent frames)."),
    cross_frame_attention: bool = typer.Option(
        False, help="Train (and by default sample) the content stream with cross-frame attention: each frame's "
        "self-attention reads its clip's first frame."),
    mixed_precision: str = typer.Option("no", help="no, bf16 or fp16 (where the device supports it)."),
    gradient_checkpointing: bool = typer.Option(False, help="Trade compute for memory (useful for sd15)."),
    cache_latents: bool = typer.Option(True, help="Encode every clip once before training."),
    checkpoint_every: int = typer.Option(250, help="Steps between checkpoints."),
    keep_checkpoints: int = typer.Option(3, help="Checkpoints kept (oldest are deleted)."),
    validate_every: int = typer.Option(500, help="Steps between validation samples and direction/colour checks (0 = never)."),
    seed: int = typer.Option(0, help="Seed of initialisation, batches and noise."),
    resume: bool = typer.Option(False, help="Continue from the newest checkpoint in --out."),
    init_from: Optional[str] = typer.Option(
        None, help="Start from a trained DSDN model folder (fine-tuning; fresh optimiser and LR schedule)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Train DSDN (content LoRA + motion stream + interaction) on videos over a frozen base."""
    from .training.video import VideoTrainConfig, train_video

    cfg = VideoTrainConfig(
        base=base, out=out, preset=preset, data=data, captions=captions, video_column=video_column,
        caption_column=caption_column, toy_clips=toy_clips, toy_world=toy_world, toy_transpose=toy_transpose,
        toy_motions=toy_motions, num_frames=frames, frame_stride=frame_stride,
        size=size, steps=steps, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, lr_schedule=lr_schedule,
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
    "Example: dsdn train peer --kind animatediff --out outputs/peers/animatediff --budget-s 3284"
))  # fmt: skip
@_boundary
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
    from .training.peers import PeerTrainConfig, train_peer

    cfg = PeerTrainConfig(
        kind=kind, base=base, out=out, budget_s=budget_s, steps=steps, data=data, toy_clips=toy_clips,
        toy_world=toy_world, num_frames=frames, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, ema_decay=ema_decay, seed=seed,
        checkpoint_every=checkpoint_every, resume=resume,
    )  # fmt: skip
    path = train_peer(cfg, progress=not quiet)
    typer.echo(f"wrote {path}")


eval_app = typer.Typer(help="Evaluate a model.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("toy", epilog="Example: dsdn eval toy --prompts 48 --json toy-eval.json")
@_boundary
def eval_toy_cmd(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="DSDN model folder (default: the shipped model)."),
    prompts: int = typer.Option(48, help="Prompts from the training vocabulary (held-out combinations excluded)."),
    heldout_prompts: int = typer.Option(12, help="Prompts of the held-out compositions (cycled over seeds)."),
    steps: int = typer.Option(25, help="Denoising steps."),
    seed: int = typer.Option(0, help="Prompt i uses seed + i."),
    motion_coherence: Optional[float] = typer.Option(None, help="Motion coherence γ in [0, 1] (default: the model's)."),
    combiner: Optional[str] = typer.Option(
        None, help="Motion combiner: causal (anchored on frame 1) or least_squares (default: the model's)."
    ),
    stream_sync: Optional[float] = typer.Option(
        None, help="In [0, 1]: how far both streams are pulled onto the combiner's one video at every step "
        "(0 = combined only at the end; default: the model's)."
    ),
    shared_noise: Optional[float] = typer.Option(
        None, help="In [0, 1]: share of the content noise common to all frames (default: the model's)."
    ),
    cross_frame_attention: Optional[bool] = typer.Option(
        None, "--cross-frame-attention/--no-cross-frame-attention",
        help="The content stream's self-attention reads each clip's first frame (Text2Video-Zero's; default: the model's)."
    ),
    guidance: Optional[float] = typer.Option(None, help="Classifier-free guidance (default: the model's, else 7.5)."),
    motion_guidance: Optional[float] = typer.Option(
        None, help="Guidance of the motion stream alone (default: the model's, else --guidance)."
    ),
    save_dir: Optional[str] = typer.Option(None, help="Also write every judged clip as mp4 here."),
    judge: Optional[str] = typer.Option(
        None, help="A judge from 'dsdn eval train-judge': adds object accuracy and frame consistency."
    ),
    toy_world: Optional[str] = typer.Option(
        None, help="Toy-world version the model learned (v3: larger objects; default: the judge's, else v1)."
    ),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write figures and per-clip records as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Judge generated toy-world clips by their pixels: motion direction (Farneback flow over the
    object), colour and visibility, on training-vocabulary prompts and on held-out compositions;
    also the direction of each stream alone (content: γ = 0; motion integrated from frame 1: γ = 1)."""
    import json
    from pathlib import Path

    from .errors import check_choice, check_float, check_int, check_seed
    from .evaluation.toy import evaluate_prompts, format_direction_by_motion, toy_prompts
    from .generate import model_limits, resolve_model_dir
    from .pipeline import DSDNPipeline

    check_int("prompts", prompts, 0)
    check_int("heldout_prompts", heldout_prompts, 0)
    check_int("steps", steps, 1)
    check_seed(seed)
    if motion_coherence is not None:
        check_float("motion_coherence", motion_coherence, 0.0, 1.0)
    if combiner is not None:
        from .motion_codec import COMBINERS

        check_choice("combiner", combiner, COMBINERS)
    if stream_sync is not None:
        check_float("stream_sync", stream_sync, 0.0, 1.0)
    if shared_noise is not None:
        check_float("shared_noise", shared_noise, 0.0, 1.0)
    if motion_guidance is not None:
        check_float("motion_guidance", motion_guidance, 0.0)
    if guidance is not None:
        check_float("guidance", guidance, 0.0)
    if prompts + heldout_prompts == 0:
        raise DSDNInputError("prompts=0 and heldout_prompts=0: nothing to evaluate; give at least one prompt.")
    check_output_file("json", json_out)
    check_output_folder("save_dir", save_dir)
    model_dir = resolve_model_dir(model)
    check_int("steps", steps, 1, model_limits(model_dir).get("max_steps"))
    from .data.toy_world import VERSIONS, object_scale

    if toy_world is not None:
        check_choice("toy_world", toy_world, VERSIONS)
    classifier = None
    if judge is not None:
        from .evaluation.judge import ToyJudge

        classifier = ToyJudge.load(judge)
        if toy_world is not None and classifier.toy_world != toy_world:
            raise DSDNInputError(
                f"judge={judge!r} learned toy world {classifier.toy_world}'s objects, not {toy_world}'s: "
                f"train one with: dsdn eval train-judge --toy-world {toy_world}"
            )
    world = toy_world or (classifier.toy_world if classifier is not None else "v1")
    pipe = DSDNPipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    sampling = {"steps": steps, **pipe.sampling_settings(guidance, motion_guidance, motion_coherence, combiner,
                                                         stream_sync, shared_noise, cross_frame_attention)}
    typer.echo(f"sampling: {steps} steps, guidance {sampling['guidance_scale']}, γ {sampling['motion_coherence']} "
               f"({sampling['combiner']} combiner), stream sync {sampling['stream_sync']}, "
               f"shared noise {sampling['shared_noise']}, cross-frame attention {sampling['cross_frame_attention']}, "
               f"motion guidance {sampling['motion_guidance_scale']}")  # fmt: skip
    results = {"sampling": sampling, "toy_world": world}
    for split, count in (("train", prompts), ("heldout", heldout_prompts)):
        if count <= 0:
            continue
        sub = None if save_dir is None else Path(save_dir) / split
        r = evaluate_prompts(pipe, toy_prompts(split, count, seed), seed=seed, steps=steps, progress=not quiet,
                             save_dir=sub, judge=classifier, streams=True, object_scale=object_scale(world),
                             motion_coherence=sampling["motion_coherence"],
                             combiner=sampling["combiner"], stream_sync=sampling["stream_sync"],
                             shared_noise=sampling["shared_noise"],
                             cross_frame_attention=sampling["cross_frame_attention"],
                             motion_guidance_scale=sampling["motion_guidance_scale"],
                             guidance_scale=sampling["guidance_scale"])  # fmt: skip
        results[split] = r
        extra = "" if classifier is None else (
            f"  object={r['object_acc']:.1%}  frame-consistency={r['frame_consistency']:.3f}"
        )  # fmt: skip
        extra += (f"  (direction of the content stream alone={r['content_stream_direction_acc']:.1%}, "
                  f"motion stream alone={r['motion_stream_direction_acc']:.1%})")  # fmt: skip
        strict = r["strict"]
        typer.echo(
            f"{split:8s} clips={r['clips']:3d}  CLEAN={r['clean_acc']:.1%}"
            + (f" ({strict['clean_pixels']:.1%} without identity)" if "clean_pixels" in strict else "")
            + f"  (one object={strict['one_object']:.1%}  "
            f"no ghost={strict['no_ghost']:.1%}  same shape={strict['same_shape']:.1%}  "
            f"same background={strict['same_background']:.1%}  "
            f"direction={strict.get('direction_ok', float('nan')):.1%}  colour={strict['colour_ok']:.1%}"
            + (f"  identity={strict['identity_ok']:.1%}" if "identity_ok" in strict else "") + ")"
        )
        typer.echo(f"{'':8s} by object kind: " + "; ".join(
            f"{kind}s ({k['clips']}) clean {k['clean']:.1%}, same shape {k['same_shape']:.1%}, one object "
            f"{k['one_object']:.1%}" + (f", identity {k['identity_ok']:.1%}" if "identity_ok" in k else "")
            for kind, k in r["strict_by_kind"].items()))  # fmt: skip
        typer.echo(
            f"{'':8s} lenient: direction={r['direction_acc']:.1%}  colour={r['colour_acc']:.1%}  "
            f"visible-every-frame={r['visible_acc']:.1%}  shape-kept={r['shape_kept_acc']:.1%}{extra}"
        )
        for label, k in (("", "direction_by_motion"), ("content stream alone, ", "content_stream_direction_by_motion"),
                         ("motion stream alone, ", "motion_stream_direction_by_motion")):  # fmt: skip
            typer.echo(f"{'':8s} {label}direction by motion: {format_direction_by_motion(r[k])}")
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2))


@eval_app.command("video", epilog="Example: dsdn eval video dsdn.mp4 framewise.mp4 --judge outputs/judge --json m.json")
@_boundary
def eval_video_cmd(
    videos: list[str] = typer.Argument(..., help="Video files (mp4, webm, gif...)."),
    judge: Optional[str] = typer.Option(None, help="A judge from 'dsdn eval train-judge': adds frame consistency."),
    clip: Optional[str] = typer.Option(None, help="Local CLIP folder: adds the paper's CLIP frame consistency."),
    prompt: Optional[str] = typer.Option(None, help="With --clip: the prompt for CLIP text alignment."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write every figure as JSON."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Flicker (warping error, static flicker), dynamic degree and consistency of existing videos."""
    import json
    from pathlib import Path

    from .evaluation.metrics import load_clip, video_metrics
    from .video_io import read_video

    check_output_file("json", json_out)
    models = {}
    if judge is not None:
        from .evaluation.judge import ToyJudge

        models["judge"] = ToyJudge.load(judge)
    if clip is not None:
        models["clip"] = load_clip(clip)
    results = {}
    for path in videos:
        if not Path(path).is_file():
            raise DSDNInputError(f"{path!r} is not a file")
        try:
            frames = read_video(path)
        except Exception as e:  # PyAV raises many types for unreadable files
            raise DSDNInputError(f"{path!r} could not be decoded as a video ({type(e).__name__}: {e})") from None
        if len(frames) < 2:
            raise DSDNInputError(f"{path!r} has {len(frames)} frame(s): the metrics need at least 2")
        results[path] = video_metrics(frames, prompt=prompt, **models)
    for path, figures in results.items():
        typer.echo(path + "  " + "  ".join(f"{k}={v:.4f}" for k, v in figures.items()))
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2))


@eval_app.command("train-judge", epilog="Example: dsdn eval train-judge --out outputs/judge")
@_boundary
def train_judge_cmd(
    out: str = typer.Option("outputs/judge", help="Folder for judge.safetensors and judge_config.json."),
    steps: int = typer.Option(600, help="Training steps."),
    train_clips: int = typer.Option(3000, help="Real toy-world clips (train split) whose frames it learns from."),
    test_clips: int = typer.Option(400, help="Unseen real clips per split for the reported accuracy."),
    toy_world: str = typer.Option("v1", help="Toy-world version whose frames it learns (v3: larger objects)."),
    seed: int = typer.Option(0, help="Seed of the data, the initialisation and the batches."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Train the toy-world judge (a small CNN naming the object in a frame) on real toy-world frames,
    and print its own accuracy on unseen real clips."""
    from .evaluation.judge import JudgeTrainConfig, train_judge

    cfg = JudgeTrainConfig(out=out, steps=steps, train_clips=train_clips, test_clips=test_clips,
                           toy_world=toy_world, seed=seed)  # fmt: skip
    report = train_judge(cfg, progress=not quiet)
    for split in ("test_train_split", "test_heldout_split"):
        r = report[split]
        typer.echo(f"{split}: clips={r['clips']} frame accuracy={r['frame_acc']:.1%} clip accuracy={r['clip_acc']:.1%}")
    typer.echo(f"wrote {out} ({report['wall_seconds']} s)")


bench_app = typer.Typer(help="Benchmark DSDN against its peers: quality (flicker, alignment) and speed.", no_args_is_help=True)
app.add_typer(bench_app, name="benchmark")


@bench_app.command("quality", epilog="Example: dsdn benchmark quality benchmarks/toy.yaml --report BENCHMARKS.md")
@_boundary
def bench_quality_cmd(
    config: str = typer.Argument("benchmarks/toy.yaml", help="YAML file: prompts, seeds, settings and methods."),
    out: str = typer.Option("outputs/benchmark", help="Folder for results.json, per_clip.json and plots/."),
    report: Optional[str] = typer.Option(
        None, help="Markdown file whose quality section is (re)written, e.g. BENCHMARKS.md."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Generate every method of CONFIG on its prompts and seeds, score every clip (flicker, dynamic
    degree, toy-world alignment, judge consistency, toy FVD), and write a table with 95% intervals,
    a computed verdict and plots. A missing judge is trained first (about a minute)."""
    from pathlib import Path

    from .evaluation.benchmark import BenchmarkSpec, run_benchmark, write_report_section

    check_output_folder("out", out)
    check_output_file("report", report)
    spec = BenchmarkSpec.from_yaml(config)
    judge_report = None
    if spec.judge is not None and not (Path(spec.judge) / "judge_config.json").is_file():
        from .evaluation.judge import JudgeTrainConfig, train_judge

        typer.echo(f"training the toy-world judge into {spec.judge}")
        judge_report = train_judge(JudgeTrainConfig(out=spec.judge), progress=not quiet)
    command = f"dsdn benchmark quality {config} --out {out}" + (f" --report {report}" if report else "")
    summary = run_benchmark(spec, out, progress=not quiet, command=command, judge_report=judge_report)
    from .evaluation.benchmark import markdown_table

    typer.echo(markdown_table(summary))
    for line in summary["verdict"]:
        typer.echo(f"* {line}")
    if report:
        write_report_section(summary, report)
        typer.echo(f"wrote {report}")
    typer.echo(f"wrote {out}/results.json and {out}/plots/")


@bench_app.command("speed", epilog="Example: dsdn benchmark speed --report BENCHMARKS.md")
@_boundary
def bench_speed_cmd(
    scales: str = typer.Option("tiny,sd15", help="Comma-separated: tiny (the shipped model), sd15 (random weights)."),
    tiny_frames: str = typer.Option("8,16,32", help="Frame counts timed at the tiny scale."),
    tiny_sizes: str = typer.Option("64,128", help="Resolutions (pixels) timed at the tiny scale."),
    sd15_frames: str = typer.Option("8,16,32", help="Frame counts timed at the sd15 scale."),
    sd15_sizes: str = typer.Option("64", help="Resolutions (pixels) timed at the sd15 scale."),
    clip_steps: int = typer.Option(10, help="Denoising steps of the timed whole-pipeline clip."),
    repeats: int = typer.Option(3, help="Timed repeats per figure (the median is reported), after a warm-up."),
    json_out: str = typer.Option("outputs/benchmark/speed.json", "--json", help="Where the raw figures go."),
    report: Optional[str] = typer.Option(None, help="Markdown file whose speed section is (re)written."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Seconds per step and per clip, peak memory, parameters and FLOPs of DSDN and of diffusers'
    AnimateDiff with a parameter-matched motion adapter, side by side; plus DSDN's sampling choices."""
    import json
    from pathlib import Path

    from .evaluation.speed import SpeedConfig, run_speed, speed_section, write_speed_section

    check_output_file("json", json_out)
    check_output_file("report", report)
    def ints(name, text):
        try:
            return tuple(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise DSDNInputError(f"--{name.replace('_', '-')}={text!r} is invalid: give comma-separated integers") from None

    cfg = SpeedConfig(
        scales=tuple(s.strip() for s in scales.split(",") if s.strip()), tiny_frames=ints("tiny_frames", tiny_frames),
        tiny_sizes=ints("tiny_sizes", tiny_sizes), sd15_frames=ints("sd15_frames", sd15_frames),
        sd15_sizes=ints("sd15_sizes", sd15_sizes), clip_steps=clip_steps, repeats=repeats,
    )  # fmt: skip
    results = run_speed(cfg, progress=not quiet)
    command = "dsdn benchmark speed " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in (("scales", scales), ("tiny_frames", tiny_frames),
        ("tiny_sizes", tiny_sizes), ("sd15_frames", sd15_frames), ("sd15_sizes", sd15_sizes),
        ("clip_steps", clip_steps), ("repeats", repeats))  # fmt: skip
    ) + (f" --report {report}" if report else "")
    Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(json.dumps(results, indent=1))
    typer.echo(speed_section(results, command))
    if report:
        write_speed_section(results, report, command)
        typer.echo(f"wrote {report}")


def _count_parameters(files) -> int:
    """Parameters stored in safetensors files, read from their headers (no tensor is loaded)."""
    from math import prod

    from .pipeline import safetensors_shapes

    return sum(prod(shape) for f in files for shape in safetensors_shapes(f).values())


@app.command(epilog="Example: dsdn info --model ./my-dsdn")
@_boundary
def info(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="DSDN model folder (default: the shipped model)."),
    words: bool = typer.Option(False, "--words", help="List every word of a closed vocabulary."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Print a model's settings, parameter counts, base and vocabulary, the package versions and the device."""
    import json

    import torch

    from .generate import resolve_model_dir
    from .vocabulary import read_vocabulary
    from .video_io import package_versions

    path = resolve_model_dir(model)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise DSDNInputError(f"--model={str(path)!r} has no config.json: it is not a DSDN model folder.")
    try:
        config = json.loads(config_file.read_text())
    except ValueError as e:
        raise DSDNInputError(f"{config_file} is not valid JSON ({e}): the model folder is damaged.") from None
    if not isinstance(config, dict):
        raise DSDNInputError(f"{config_file} does not describe a DSDNAdapter (it holds a {type(config).__name__}, "
                             "not an object): the model folder is damaged.")  # fmt: skip
    lines = []  # printed only once everything has been read: an error is then the only line
    lines.append(f"model: {path}{'  (shipped default)' if model is None else ''}")
    motion = config.get("motion_unet_config")
    motion = motion if isinstance(motion, dict) else {}
    lines.append(
        f"  motion stream: channels {motion.get('block_out_channels')}, {motion.get('sample_size')}-pixel latents; "
        f"LoRA rank {config.get('lora_rank')}; motion coherence γ {config.get('motion_coherence')} "
        f"({config.get('combiner', 'causal')} combiner, stream sync {config.get('stream_sync', 0.0)}, "
        f"shared noise {config.get('shared_noise', 0.0)}); "
        f"motion scale {config.get('motion_scale')}; frames up to {config.get('motion_frame_positions')}"
    )
    own = sorted(path.glob("*.safetensors"))
    lines.append(f"  DSDN parameters (motion stream, interaction, LoRA): {_count_parameters(own):,}")
    base = path / "base"
    if base.is_dir():
        frozen = sorted(f for part in ("unet", "vae", "text_encoder") for f in (base / part).glob("*.safetensors"))
        lines.append(f"base: {base}  (frozen parameters: {_count_parameters(frozen):,})")
        vocab = read_vocabulary(base)
        if vocab is None:
            lines.append("  vocabulary: open (the base's tokenizer)")
        else:
            lines.append(f"  vocabulary: closed, {len(vocab)} words" + (": " + " ".join(sorted(vocab)) if words else
                                                                         " (--words lists them)"))  # fmt: skip
    else:
        lines.append("base: not included (pass --base to generate; DSDN weights only)")
    card = path / "MODEL_CARD.md"
    if card.is_file():
        lines.append(f"model card: {card}")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in package_versions().items()))
    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    lines.append(f"device: {device}, {torch.get_num_threads()} CPU threads")
    typer.echo("\n".join(lines))


@app.command(epilog="Example: dsdn web --port 7860   (then open http://127.0.0.1:7860)")
@_boundary
def web(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="DSDN model folder (default: the shipped model)."),
    port: int = typer.Option(7860, help="Port on 127.0.0.1 (the page is never served to other machines)."),
    device: str = typer.Option("auto", help="Torch device: auto (CUDA when present, else CPU), cpu, cuda, cuda:1..."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Serve a local web page (Gradio, optional extra 'web') to type a prompt, set seed/frames/λ/γ and watch the video."""
    from .errors import invalid
    from .web import serve

    if not 1 <= port <= 65535:
        raise invalid("port", port, "must be an integer from 1 to 65535")
    serve(model, port=port, device=device, open_browser=open_browser)


@app.command(epilog="Example: dsdn version")
@_boundary
def version() -> None:
    """Print the versions of dsdn and its main dependencies."""
    from .video_io import package_versions

    for name, v in package_versions().items():
        typer.echo(f"{name} {v}")


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
