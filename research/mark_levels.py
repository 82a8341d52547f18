"""Faint marks inside solid shapes: how far the inside of a circle, square or triangle strays from its own colour, in
real toy-world clips as rendered, after the base's VAE, and in generated clips.

    python research/mark_levels.py --toy-world v3 [--seeds 1] [--vae FOLDER] [--clips DIR ...] [--deviations 30,45,60]

The strict judge's *no marks* (:mod:`dsdn.evaluation.clean`) counts bright pixels of another colour; a person also
sees a dimple of a darker or paler shade of the asked colour. This measures those: a shape's inside is its pixels of
the asked colour (edges included, holes filled) eroded by 2 pixels, and a pixel is marked when its RGB distance from
the inside's median colour exceeds a deviation. Per group and deviation, over each clip's frames, it prints the
largest marked blob (pixels at 64×64) and the largest marked share of the inside: their mean and maximum, and how
many clips hold a blob of 6 pixels or more.

Real clips: every solid shape × colour × motion × speed × background, ``--seeds`` each, as rendered and after a
round trip through a VAE (the shipped base's, or ``--vae``: a folder saved by ``AutoencoderKL.save_pretrained``).
Generated clips: the mp4 files of shapes in each ``--clips`` folder (``dsdn eval toy --save-dir``).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np


def marked(frames: np.ndarray, colour: str, deviations: list[float]) -> dict[float, tuple[int, float]]:
    """``{deviation: (largest marked blob in pixels at 64×64, largest marked share of the inside)}`` over frames."""
    from scipy import ndimage

    from dsdn.data.toy_world import COLOURS
    from dsdn.evaluation.clean import colour_labels
    from dsdn.evaluation.metrics import as_uint8

    frames = as_uint8(frames)
    scale = frames.shape[1] / 64.0
    labels = colour_labels(frames, edges=True) == list(COLOURS).index(colour)
    out = dict.fromkeys(deviations, (0, 0.0))
    for frame, mine in zip(frames, labels):
        inside = ndimage.binary_erosion(ndimage.binary_fill_holes(mine), np.ones((3, 3), bool), iterations=2)
        if not inside.any():
            continue
        px = frame.astype(np.float32)
        off = np.sqrt(((px - np.median(px[inside], axis=0)) ** 2).sum(-1))
        for d in deviations:
            mark = inside & (off > d)
            parts, n = ndimage.label(mark, np.ones((3, 3), bool))
            blob = round(int(np.bincount(parts.ravel())[1:].max()) / scale**2) if n else 0
            share = float(mark.sum()) / float(inside.sum())
            out[d] = (max(out[d][0], blob), max(out[d][1], share))
    return out


def report(name: str, rows: list[dict], deviations: list[float]) -> None:
    for d in deviations:
        blob = np.asarray([r[d][0] for r in rows], float)
        share = np.asarray([r[d][1] for r in rows], float)
        print(
            f"{name:30s} clips={len(rows):4d} deviation={d:4.0f}  blob mean={blob.mean():5.1f} max={blob.max():4.0f}  "
            f"share mean={share.mean():.4f} max={share.max():.3f}  clips with a blob >= 6: {int((blob >= 6).sum())}"
        )


def main() -> None:
    import torch

    from dsdn.data.toy_world import BACKGROUNDS, COLOURS, MOTIONS, SPEEDS, ClipSpec, render_clip
    from dsdn.evaluation.clean import SOLID_OBJECTS
    from dsdn.evaluation.toy import parse_prompt
    from dsdn.frame_vae import FrameVAE
    from dsdn.generate import default_model_dir
    from dsdn.video_io import read_video

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vae", default=str(default_model_dir() / "base" / "vae"), help="VAE folder of the round trip")
    ap.add_argument("--seeds", type=int, default=1, help="real clips per combination (0: none)")
    ap.add_argument("--toy-world", default="v3")
    ap.add_argument("--clips", nargs="*", default=[], help="folders of generated mp4 clips (dsdn eval toy --save-dir)")
    ap.add_argument("--deviations", default="30,45,60")
    args = ap.parse_args()
    deviations = [float(x) for x in args.deviations.split(",")]

    from diffusers import AutoencoderKL

    vae = FrameVAE(AutoencoderKL.from_pretrained(args.vae).eval())
    groups: dict[str, list] = {}
    combos = itertools.product(SOLID_OBJECTS, COLOURS, MOTIONS, SPEEDS, BACKGROUNDS, range(args.seeds))
    with torch.no_grad():
        for k, (o, c, m, speed, bg, seed) in enumerate(combos):
            video = render_clip(ClipSpec(o, c, m, speed, bg, seed=1000 * k + seed, version=args.toy_world))
            x = torch.from_numpy(video.astype(np.float32) / 127.5 - 1).permute(3, 0, 1, 2)[None]
            y = ((vae.decode(vae.encode(x, sample=False)).clamp(-1, 1) + 1) / 2)[0].permute(1, 2, 3, 0).numpy()
            groups.setdefault(f"real, rendered, {bg}", []).append(marked(video, c, deviations))
            groups.setdefault(f"real, after the VAE, {bg}", []).append(marked(y, c, deviations))
    for folder in args.clips:
        for path in sorted(Path(folder).glob("*.mp4")):
            want = parse_prompt(path.stem.split("_", 1)[1].replace("_", " "))
            if want is not None and want["object"] in SOLID_OBJECTS:
                rows = groups.setdefault(f"generated: {Path(folder).name}"[:30], [])
                rows.append(marked(read_video(path), want["colour"], deviations))
    for name, rows in groups.items():
        report(name, rows, deviations)


if __name__ == "__main__":
    main()
