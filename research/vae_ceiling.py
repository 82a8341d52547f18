"""How much of the toy-world quality bar the base's VAE allows: ``dsdn eval toy``'s judge on real toy-world
clips of the evaluation's prompts, as rendered and after a round trip through the base's VAE (encode to the
posterior mode, decode), which is the best any DSDN over that base can draw:

    python research/vae_ceiling.py [--base BASE] [--prompts 96] [--seeds 3]

Each prompt is rendered with ``--seeds`` seeds (speed and background drawn per seed as in the quality
benchmark's real row). Prints direction, colour and visible-every-frame accuracy and the strict judge's clean
rate (:mod:`dsdn.evaluation.clean`) of both, and the clips the round trip loses by colour and object kind.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch


def main() -> None:
    from dsdn.data.toy_world import object_scale
    from dsdn.evaluation.benchmark import real_clip
    from dsdn.evaluation.clean import judge_strict
    from dsdn.evaluation.toy import judge_clip, parse_prompt, toy_prompts
    from dsdn.frame_vae import FrameVAE
    from dsdn.generate import default_model_dir
    from dsdn.loading import load_base

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default=str(default_model_dir() / "base"), help="SD-format base (folder or file)")
    ap.add_argument("--prompts", type=int, default=96, help="training-vocabulary prompts (as dsdn eval toy)")
    ap.add_argument("--seeds", type=int, default=3, help="real clips per prompt")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="frame size in pixels (the toy world's is 64)")
    ap.add_argument("--toy-world", default="v1", help="toy-world version of the real clips (v3: larger objects)")
    args = ap.parse_args()

    vae = FrameVAE(load_base(args.base)["vae"].eval())
    checks = {
        "direction": lambda clip, j, w: j.direction == w["motion"],
        "colour": lambda clip, j, w: j.colour == w["colour"],
        "visible": lambda clip, j, w: j.visible_every_frame,
        "clean": lambda clip, j, w: (
            judge_strict(clip, w["colour"], w["motion"], object_scale=object_scale(args.toy_world)).clean
        ),
    }
    right = {k: Counter() for k in ("real", "vae")}
    lost = Counter()
    n = 0
    for prompt in toy_prompts("train", args.prompts):
        want = parse_prompt(prompt)
        clips = np.stack(
            [real_clip(prompt, s, args.frames, args.size, args.toy_world) for s in range(args.seeds)]
        )  # (S, F, H, W, 3)
        x = torch.from_numpy(clips).permute(0, 4, 1, 2, 3) * 2 - 1  # (S, 3, F, H, W) in [-1, 1]
        y = vae.decode(vae.encode(x, sample=False))  # (S, 3, F, H, W)
        rec = ((y.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1).numpy()
        for real, back in zip(clips, rec):
            n += 1
            for name, clip in (("real", real), ("vae", back)):
                j = judge_clip(clip)
                for k, ok in checks.items():
                    right[name][k] += bool(ok(clip, j, want))
            if judge_clip(real).visible_every_frame and not judge_clip(back).visible_every_frame:
                lost[f"{want['colour']} {'digit' if want['object'].startswith('digit') else want['object']}"] += 1
    for name, label in (("real", "real clips"), ("vae", "after the VAE")):
        figures = "  ".join(f"{k}={100 * right[name][k] / n:.1f}%" for k in checks)
        print(f"{label:14s} clips={n}  {figures}")
    print(
        "visible in the real clip, not after the VAE:", ", ".join(f"{k} {v}" for k, v in lost.most_common()) or "none"
    )


if __name__ == "__main__":
    main()
