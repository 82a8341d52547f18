"""``dsdn generate``: one prompt to a video file. Its options are :class:`~dsdn.generate.GenerateConfig`'s
fields."""

from __future__ import annotations

import typer

from ..generate import GenerateConfig
from .common import app, boundary, config_command


@app.command(
    epilog="Example: dsdn generate 'a red circle moving right' --model ./my-dsdn --out circle.mp4 --seed 1\n\n"
    "Prompt travel: dsdn generate 'a red circle bouncing' --prompt-at '16:a blue circle bouncing' --frames 32 "
    "--context-frames 8"
)
@boundary
@config_command(GenerateConfig)
def generate(cfg: GenerateConfig, quiet: bool) -> None:
    """Generate a video from a text prompt and write it with a JSON sidecar of its settings."""
    from ..generate import generate_video

    path, sidecar = generate_video(cfg, progress=not quiet)
    typer.echo(f"wrote {path} (settings in {sidecar})")
