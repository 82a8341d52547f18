"""``dsdn generate``: one prompt to a video file."""

from __future__ import annotations

from typing import Optional

import typer

from .common import (
    CacheDepth,
    CacheInterval,
    CarryFrom,
    Combiner,
    CrossFrameAttention,
    EarlyCoherence,
    EarlyUntil,
    Guidance,
    MotionCoherence,
    MotionGuidance,
    Scheduler,
    SharedNoise,
    StreamSync,
    app,
    boundary,
)


@app.command(
    epilog="Example: dsdn generate 'a red circle moving right' --model ./my-dsdn --out circle.mp4 --seed 1\n\n"
    "Prompt travel: dsdn generate 'a red circle bouncing' --prompt-at '16:a blue circle bouncing' --frames 32 "
    "--context-frames 8"
)
@boundary
def generate(
    prompt: str = typer.Argument(..., help="What the video shows."),
    prompt_at: Optional[list[str]] = typer.Option(
        None, help="Prompt travel: 'FRAME:TEXT' makes TEXT the prompt from FRAME on (repeat for more changes)."
    ),
    travel_blend: Optional[int] = typer.Option(
        None, help="With --prompt-at: frames each prompt change is blended over, centred on its frame (default 8)."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="DSDN model folder (saved by DSDNPipeline.save_pretrained)."
    ),
    base: Optional[str] = typer.Option(
        None, help="SD-1.x base (folder or .safetensors) when --model holds DSDN weights only."
    ),
    out: str = typer.Option(
        "dsdn.mp4", "--out", "-o", help="Output: .mp4, .gif, .webp, or a folder name for png frames."
    ),
    frames: int = typer.Option(8, help="Number of frames (>= 2)."),
    context_frames: Optional[int] = typer.Option(
        None, help="Long videos: denoise windows of this many frames (e.g. 8), fused at every step."
    ),
    context_stride: Optional[int] = typer.Option(
        None, help="With --context-frames: frames between windows (default: half a window)."
    ),
    context_anchor: bool = typer.Option(
        False, "--context-anchor", help="With --context-frames: every later window also holds frame 1 (its look)."
    ),
    loop: bool = typer.Option(
        False, "--loop", help="With --context-frames: the windows wrap around, so the last frame leads into the first."
    ),
    height: Optional[int] = typer.Option(None, help="Height in pixels (default: the model's native size)."),
    width: Optional[int] = typer.Option(None, help="Width in pixels (default: the model's native size)."),
    steps: Optional[int] = typer.Option(None, help="Denoising steps (default: the model's, else 25)."),
    seed: int = typer.Option(0, help="Random seed; the same seed and settings give the same video."),
    guidance: Guidance = None,
    lora_scale: float = typer.Option(1.0, help="Content increment step length λ (0 = base UNet only)."),
    motion_coherence: MotionCoherence = None,
    combiner: Combiner = None,
    stream_sync: StreamSync = None,
    shared_noise: SharedNoise = None,
    cross_frame_attention: CrossFrameAttention = None,
    carry_from: CarryFrom = None,
    early_coherence: EarlyCoherence = None,
    early_until: EarlyUntil = None,
    motion_guidance: MotionGuidance = None,
    cache_interval: CacheInterval = 1,
    cache_depth: CacheDepth = 1,
    scheduler: Scheduler = "ddim",
    negative_prompt: str = typer.Option("", help="Steer away from this text."),
    motion_prompt: Optional[str] = typer.Option(None, help="Separate text for the motion stream only."),
    image: Optional[str] = typer.Option(
        None, help="Image-to-video: the picture the clip starts from (resized to the video's size)."
    ),
    video: Optional[str] = typer.Option(
        None, help="Video-to-video: the clip to redraw (a video file or a folder of PNG frames; its first --frames)."
    ),
    motion_from: Optional[str] = typer.Option(
        None, help="Motion transfer: the clip whose motion the prompt's content takes (a video file or PNG frames)."
    ),
    strength: Optional[float] = typer.Option(
        None, help="With --video or --motion-from: the share redrawn, in (0, 1] (default 0.6; 0.8 with --motion-from)."
    ),
    motion_hold: Optional[float] = typer.Option(
        None,
        help="With --video or --motion-from: the share of the steps the motion stream holds the clip's motion "
        "(default 0; 0.5 with --motion-from).",
    ),
    fps: int = typer.Option(8, help="Frames per second of the written video."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N, mps."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Generate a video from a text prompt and write it with a JSON sidecar of its settings."""
    from ..generate import GenerateConfig, generate_video

    cfg = GenerateConfig(
        prompt=prompt, prompt_at=tuple(prompt_at or ()), travel_blend=travel_blend, model=model, base=base, out=out, negative_prompt=negative_prompt, motion_prompt=motion_prompt,
        image=image, source_video=video, motion_video=motion_from, strength=strength, motion_hold=motion_hold, frames=frames, context_frames=context_frames,
        context_stride=context_stride, context_anchor=context_anchor, loop=loop, height=height, width=width, steps=steps,
        guidance=guidance, lora_scale=lora_scale,
        motion_coherence=motion_coherence, combiner=combiner, stream_sync=stream_sync, shared_noise=shared_noise,
        cross_frame_attention=cross_frame_attention, carry_from=carry_from, early_coherence=early_coherence,
        early_until=early_until, motion_guidance=motion_guidance, cache_interval=cache_interval,
        cache_depth=cache_depth, scheduler=scheduler, seed=seed, fps=fps, device=device,
    )  # fmt: skip
    path, sidecar = generate_video(cfg, progress=not quiet)
    typer.echo(f"wrote {path} (settings in {sidecar})")
