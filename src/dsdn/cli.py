"""``dsdn`` command line: thin wrappers that parse arguments, build a config and call the library."""

from __future__ import annotations

import logging
import sys
from typing import Optional

import typer

from .errors import DSDNInputError
from .schedulers import SCHEDULERS

app = typer.Typer(
    help="Text-to-video generation with the Dual-Stream Diffusion Net (DSDN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _setup_logging(debug: bool) -> None:
    """Our warnings at WARNING; the libraries' import-time chatter only with --debug."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not debug:
        from diffusers.utils import logging as d_logging
        from transformers.utils import logging as t_logging

        d_logging.set_verbosity_error()
        t_logging.set_verbosity_error()


def _fail(message: str, debug: bool) -> None:
    if debug:
        raise
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command(epilog="Example: dsdn generate 'a red circle moving right' --model ./my-dsdn --out circle.mp4 --seed 1")
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
    guidance: float = typer.Option(7.5, help="Classifier-free guidance scale (<= 1 disables guidance)."),
    lora_scale: float = typer.Option(1.0, help="Content increment step length λ (0 = base UNet only)."),
    motion_coherence: Optional[float] = typer.Option(None, help="Motion coherence γ in [0, 1] (default: the model's)."),
    scheduler: str = typer.Option("ddim", help="Sampler: " + ", ".join(SCHEDULERS) + "."),
    negative_prompt: str = typer.Option("", help="Steer away from this text."),
    motion_prompt: Optional[str] = typer.Option(None, help="Separate text for the motion stream only."),
    fps: int = typer.Option(8, help="Frames per second of the written video."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N, mps."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Generate a video from a text prompt and write it with a JSON sidecar of its settings."""
    _setup_logging(debug)
    from .generate import GenerateConfig, generate_video

    try:
        cfg = GenerateConfig(
            prompt=prompt, model=model, base=base, out=out, negative_prompt=negative_prompt, motion_prompt=motion_prompt,
            frames=frames, height=height, width=width, steps=steps, guidance=guidance, lora_scale=lora_scale,
            motion_coherence=motion_coherence, scheduler=scheduler, seed=seed, fps=fps, device=device,
        )  # fmt: skip
        path, sidecar = generate_video(cfg, progress=not quiet)
    except DSDNInputError as e:
        _fail(str(e), debug)
    typer.echo(f"wrote {path} (settings in {sidecar})")


@app.command()
def version() -> None:
    """Print the versions of dsdn and its main dependencies."""
    from .video_io import package_versions

    for name, v in package_versions().items():
        typer.echo(f"{name} {v}")


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
