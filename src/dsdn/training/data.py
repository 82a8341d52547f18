"""Training clips: the toy world or a folder of videos, encoded once by the frame VAE."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import DSDNInputError


def check_toy_options(cfg) -> None:
    """Validate (and normalise) the toy-world options shared by DSDN's and the peers' configs."""
    from ..data.toy_world import MOTIONS

    toy_only = [name for name, on in (("toy_transpose", cfg.toy_transpose), ("toy_motions", cfg.toy_motions)) if on]
    if toy_only and cfg.data != "toy":
        raise DSDNInputError(f"{toy_only[0]} applies to the toy world only, not to data={cfg.data!r}.")
    if cfg.toy_motions is not None:
        motions = cfg.toy_motions.split(",") if isinstance(cfg.toy_motions, str) else cfg.toy_motions
        cfg.toy_motions = tuple(m.strip() for m in motions)
        if not cfg.toy_motions or any(m not in MOTIONS for m in cfg.toy_motions):
            raise DSDNInputError(
                f"toy_motions={cfg.toy_motions!r} is invalid: must be one or more of {', '.join(MOTIONS)}"
            )


def build_dataset(cfg, size: int):
    """The training clips: the toy world's train split, or a folder of real videos."""
    from ..data import ToyWorld, VideoFolder

    if cfg.data == "toy":
        return ToyWorld("train", length=cfg.toy_clips, num_frames=cfg.num_frames, size=size, seed=cfg.seed,
                        version=cfg.toy_world, transpose=cfg.toy_transpose, motions=cfg.toy_motions)  # fmt: skip
    return VideoFolder(
        cfg.data, captions=cfg.captions, video_column=cfg.video_column, caption_column=cfg.caption_column,
        num_frames=cfg.num_frames, frame_stride=cfg.frame_stride, size=size,
    )  # fmt: skip


def to_video_tensor(items: list[dict], device) -> torch.Tensor:
    video = torch.from_numpy(np.stack([it["video"] for it in items]))  # (B, F, H, W, 3) uint8
    return (video.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0).to(device)  # (B, 3, F, H, W)


@torch.no_grad()
def encode_dataset(dataset, frame_vae, device, batch: int = 16, progress: bool = True):
    """Encode every readable clip once: latents ``(N, C, F, h, w)`` on CPU and captions."""
    get = getattr(dataset, "get", dataset.__getitem__)
    latents, captions, pending = [], [], []

    def flush():
        latents.append(frame_vae.encode(to_video_tensor(pending, device), sample=False).cpu())
        captions.extend(it["caption"] for it in pending)
        pending.clear()

    for i in tqdm(range(len(dataset)), desc="encoding clips", disable=not progress):
        item = get(i)
        if item is not None:
            pending.append(item)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    if not latents:
        raise DSDNInputError(f"none of the {len(dataset)} clips could be read: check the video files and captions.")
    return torch.cat(latents), captions
