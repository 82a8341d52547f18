"""``dsdn train``: the tiny base, DSDN itself, and the benchmark's peers. Each command's options are its
config's fields (``dsdn.training.configs``)."""

from __future__ import annotations

import typer

from ..training.configs import BaseTrainConfig, PeerTrainConfig, VideoTrainConfig
from .common import app, boundary, config_command

train_app = typer.Typer(help="Train the tiny base or DSDN itself.", no_args_is_help=True)
app.add_typer(train_app, name="train")


@train_app.command("base", epilog="Example: dsdn train base --out outputs/tiny-base")
@boundary
@config_command(BaseTrainConfig)
def train_base_cmd(cfg: BaseTrainConfig, quiet: bool) -> None:
    """Train the tiny SD-format base (VAE, then text encoder + UNet2D) from scratch on the toy world."""
    from ..training.base import train_base

    typer.echo(f"wrote {train_base(cfg, progress=not quiet)}")


@train_app.command("video", epilog=(
    "Example: dsdn train video --base outputs/tiny-base --out outputs/runs/dsdn-tiny\n\n"
    "Many GPUs: accelerate launch -m dsdn train video --base ... --preset sd15 --data clips/ --mixed-precision bf16"
))  # fmt: skip
@boundary
@config_command(VideoTrainConfig)
def train_video_cmd(cfg: VideoTrainConfig, quiet: bool) -> None:
    """Train DSDN (content LoRA + motion stream + interaction) on videos over a frozen base."""
    from ..training.video import train_video

    typer.echo(f"wrote {train_video(cfg, progress=not quiet)}")


@train_app.command("peer", epilog=(
    "Example: dsdn train peer --kind animatediff --out outputs/peers/animatediff --toy-world v3 --steps 3500"
))  # fmt: skip
@boundary
@config_command(PeerTrainConfig)
def train_peer_cmd(cfg: PeerTrainConfig, quiet: bool) -> None:
    """Train a benchmark peer (AnimateDiff-style or single-stream 3D UNet) on the same base and data as DSDN."""
    from ..training.peers import train_peer

    typer.echo(f"wrote {train_peer(cfg, progress=not quiet)}")
