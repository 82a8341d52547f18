"""How often the base's text-to-image UNet alone draws the object visibly: every prompt of ``dsdn eval
toy``'s set is sampled as still frames by diffusers' own ``StableDiffusionPipeline`` over the base (the
quality benchmark's frame-wise row: one generator, independent noise per frame), and each frame is judged
like a video frame (max RGB channel ≥ 140 on ≥ 12 pixels, as ``dsdn eval toy``'s visibility):

    python research/base_visibility.py [--base BASE] [--prompts 96] [--frames 8]

The content stream of DSDN is this UNet plus a LoRA, and its first frame reaches the video as drawn,
so a colour the base draws dim loses clips in ``dsdn eval toy``'s visibility whatever the motion stream
does. Prints the fraction of frames visible, and of clips visible in every frame, by colour and object
kind (digit or shape), and overall.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

import numpy as np
import torch

MIN_PIXELS = 12  # judge_clip's default: fewer object pixels than this and the frame has lost its object


def main() -> None:
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from dsdn.evaluation.toy import object_mask, parse_prompt, toy_prompts
    from dsdn.generate import default_model_dir
    from dsdn.loading import load_base

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default=str(default_model_dir() / "base"), help="SD-format base (folder or file)")
    ap.add_argument("--prompts", type=int, default=96, help="training-vocabulary prompts (as dsdn eval toy)")
    ap.add_argument("--frames", type=int, default=8, help="still frames per prompt")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--seed", type=int, default=0, help="prompt i uses seed + i")
    args = ap.parse_args()

    parts = load_base(args.base)
    t2i = StableDiffusionPipeline(
        vae=parts["vae"], text_encoder=parts["text_encoder"], tokenizer=parts["tokenizer"], unet=parts["unet"],
        scheduler=DDIMScheduler.from_config(parts["scheduler"].config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    t2i.set_progress_bar_config(disable=True)
    frames_seen, clips_seen = defaultdict(list), defaultdict(list)
    for i, prompt in enumerate(toy_prompts("train", args.prompts)):
        want = parse_prompt(prompt)
        images = t2i(prompt, num_images_per_prompt=args.frames, num_inference_steps=args.steps,
                     guidance_scale=args.guidance, generator=torch.Generator().manual_seed(args.seed + i),
                     output_type="np").images  # fmt: skip
        visible = list(object_mask(images).reshape(len(images), -1).sum(axis=1) >= MIN_PIXELS)
        kind = "digit" if want["object"].startswith("digit") else "shape"
        for key in (f"{want['colour']} {kind}", "all"):
            frames_seen[key] += visible
            clips_seen[key].append(all(visible))
    print(f"base {args.base}: {args.prompts} prompts x {args.frames} frames, guidance {args.guidance}")
    for key in sorted(frames_seen, key=lambda k: (k == "all", k)):
        print(f"{key:14s} prompts={len(clips_seen[key]):3d}  frames visible={100 * np.mean(frames_seen[key]):5.1f}%  "
              f"clips visible in every frame={100 * np.mean(clips_seen[key]):5.1f}%")  # fmt: skip


if __name__ == "__main__":
    main()
