"""An oracle probe of the sampler: does content noise that travels with the object keep its strokes?

Every frame's content noise is frame 1's, rolled by ``--speed`` latent pixels a frame in the direction the
prompt names (the oracle: the real displacement is the prompt's direction at the toy world's "quickly" speed,
one latent pixel a frame at 64 pixels), against the same noise not rolled (shared noise 1). Both arms sample
the same prompts and seeds with the same settings, and the strict judge scores each clip; the output is one
line per arm and the clips that differ.

    python research/travelling_noise.py --model MODEL --toy-world v3 --prompts 24
"""

from __future__ import annotations

import argparse

import torch

from dsdn.data.toy_world import object_scale
from dsdn.evaluation.clean import judge_strict
from dsdn.evaluation.toy import parse_prompt, selection_prompts
from dsdn.pipeline import DSDNPipeline

SHIFT = {"right": (1, 1), "left": (1, -1), "down": (0, 1), "up": (0, -1)}  # (axis of (h, w), sign)


def travelling(noise: torch.Tensor, motion: str, speed: int) -> torch.Tensor:
    """``noise`` ``(1, C, 1, h, w)`` repeated over frames, frame ``t`` rolled by ``t·speed`` along ``motion``."""
    axis, sign = SHIFT[motion]
    frames = [torch.roll(noise[:, :, 0], shifts=sign * speed * t, dims=2 + axis) for t in range(8)]
    return torch.stack(frames, dim=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--toy-world", default="v3")
    ap.add_argument("--speed", type=int, default=1, help="latent pixels a frame")
    ap.add_argument("--steps", type=int, default=25)
    args = ap.parse_args()
    pipe = DSDNPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    settings = dict(motion_coherence=0.5, combiner="least_squares", stream_sync=1.0, cross_frame_attention=True,
                    motion_guidance_scale=15.0, guidance_scale=7.5)  # fmt: skip
    h = pipe.unet.config.sample_size
    results = {0: [], args.speed: []}
    for i, prompt in enumerate(selection_prompts(args.prompts)):
        want = parse_prompt(prompt)
        g = torch.Generator().manual_seed(1000 + i)
        base = torch.randn((1, pipe.unet.config.in_channels, 1, h, h), generator=g)
        for speed in results:
            latents = travelling(base, want["motion"], speed)
            frames = pipe(prompt, num_inference_steps=args.steps, generator=torch.Generator().manual_seed(1000 + i),
                          latents=latents, output_type="np", **settings).frames[0]  # fmt: skip
            j = judge_strict(frames, want["colour"], want["motion"], object_scale=object_scale(args.toy_world))
            results[speed].append((prompt, j))
    for speed, rows in results.items():
        n = len(rows)
        rate = {k: sum(bool(getattr(j, k)) for _, j in rows) / n for k in
                ("clean", "same_shape", "same_background", "one_object", "direction_ok")}  # fmt: skip
        rate["no_ghost"] = sum(not j.ghost for _, j in rows) / n
        print(f"speed={speed}  " + "  ".join(f"{k}={v:.1%}" for k, v in rate.items()) + f"  (n={n})")
    still, moving = results[0], results[args.speed]
    for (prompt, a), (_, b) in zip(still, moving):
        if a.clean != b.clean or a.same_shape != b.same_shape:
            print(f"  {prompt}: still clean={a.clean} shape={a.same_shape}; travelling clean={b.clean} "
                  f"shape={b.same_shape}")  # fmt: skip


if __name__ == "__main__":
    main()
