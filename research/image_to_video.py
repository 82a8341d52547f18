"""Image-to-video on the toy world: does the clip start from the given picture and move the prompt's way?

    python research/image_to_video.py [--model DIR] [--clips 16] [--steps N] [--strips i2v.png] [--set NAME=VALUE]

Each clip's picture is frame 1 of a real toy-world clip (the four directions in turn, object, colour and background drawn
without repeats); the prompt names that object, colour and direction. Reports frame 1's PSNR against the
picture's own VAE round trip (what the model can reproduce at best) and the strict judge's direction, colour and
clean rates (every check but identity) with 95% Wilson intervals, and how many clips are steady (no
jump of the object between two frames), then each clip's line.
"""

from __future__ import annotations

import argparse
import itertools

MAX_STEP = 8.0  # pixels at 64×64: twice the toy world's fast speed; a larger step between frames is a jump


def largest_step(frames, colour: str) -> float:
    """The largest distance (pixels) the asked colour's centroid moves between two neighbouring frames."""
    import numpy as np

    from dsdn.data.toy_world import COLOURS
    from dsdn.evaluation.clean import colour_labels

    labels = colour_labels(frames) == list(COLOURS).index(colour)
    if not labels.reshape(len(labels), -1).any(axis=1).all():
        return float("inf")
    centres = np.asarray([np.argwhere(m).mean(axis=0) for m in labels])
    return float(np.linalg.norm(np.diff(centres, axis=0), axis=1).max())


def main() -> None:
    import numpy as np
    import torch
    from PIL import Image

    from dsdn.data.toy_world import BACKGROUNDS, COLOURS, OBJECTS, ClipSpec, object_scale, render_clip
    from dsdn.evaluation.benchmark import interval
    from dsdn.evaluation.clean import judge_strict
    from dsdn.generate import load_pipeline, model_toy_world, resolve_model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="DSDN model folder (default: the shipped model)")
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    ap.add_argument("--seed", type=int, default=0, help="clip k renders and samples with seed SEED + k")
    ap.add_argument("--strips", default=None, help="write a PNG: each clip's picture, then its generated frames")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a DSDNPipeline argument for every clip (a number), e.g. --set motion_coherence=1")  # fmt: skip
    args = ap.parse_args()
    extra = {name: float(value) for name, value in (item.split("=", 1) for item in args.set)}
    world = model_toy_world(resolve_model_dir(args.model)) or "v1"
    pipe = load_pipeline(args.model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    sync = pipe.sampling_settings()["stream_sync"] or 1.0  # frame 1 is held through stream sync
    combos = list(itertools.product(OBJECTS, COLOURS, BACKGROUNDS))
    order = np.random.default_rng(args.seed).permutation(len(combos))
    motions = ("left", "right", "up", "down")
    picks = [(motions[k % 4], *combos[order[k % len(combos)]]) for k in range(args.clips)]
    rows, strips = [], []
    for k, (motion, obj, colour, background) in enumerate(picks):
        seed = args.seed + k
        real = render_clip(ClipSpec(obj, colour, motion, "quickly", background, seed=seed, version=world))
        image = real[0]  # (H, W, 3) uint8, at the model's own size
        if image.shape[0] != size:
            image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
        prompt = f"a {colour} {obj} moving {motion}"
        video = pipe(prompt, image=image, num_inference_steps=args.steps, output_type="np", stream_sync=sync,
                     generator=torch.Generator("cpu").manual_seed(seed), **extra).frames[0]  # fmt: skip
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None, :, None].float() / 127.5 - 1.0
        trip = pipe.frame_vae.decode(pipe.frame_vae.encode(pixels, sample=False))[0, :, 0]
        trip = ((trip.clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
        mse = float(np.mean((video[0].astype(np.float64) - trip) ** 2))
        psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
        frames = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
        j = judge_strict(frames, colour, motion, object_scale=object_scale(world))
        step = largest_step(frames, colour) * 64 / size
        rows.append((prompt, background, psnr, j.direction_ok, j.colour_ok, j.clean, step <= MAX_STEP))
        strips.append(np.concatenate([image, *frames], axis=1))
    psnrs = [r[2] for r in rows]
    print(f"clips={len(rows)}  world={world}  frame-1 PSNR vs the picture's VAE round trip: mean {np.mean(psnrs):.1f} dB,"
          f" min {min(psnrs):.1f} dB")  # fmt: skip
    for name, col in (("direction", 3), ("colour", 4), ("clean", 5), (f"steady (no step > {MAX_STEP} px)", 6)):
        mean, low, high = interval([float(r[col]) for r in rows], binary=True)
        print(f"{name}: {100 * mean:.1f}% [{100 * low:.1f}, {100 * high:.1f}]")
    for prompt, background, psnr, d, c, clean, steady in rows:
        print(
            f"  {prompt} ({background}): PSNR {psnr:.1f} dB  direction {d}  colour {c}  clean {clean}  steady {steady}"
        )
    if args.strips:
        Image.fromarray(np.concatenate(strips, axis=0)).save(args.strips)
        print(f"wrote {args.strips}")


if __name__ == "__main__":
    main()
