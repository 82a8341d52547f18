"""Motion transfer on the toy world: does the clip show the prompt's object and colour, moving as the reference moves?

    python research/motion_transfer.py [--model DIR] [--clips 32] [--strengths 0.9] [--holds 0.5] [--seed 0]
                                       [--prompt-motion none|opposite] [--strips transfer.png]

Each reference is a real toy-world clip (the four directions in turn; object, colour and background drawn without
repeats); the prompt names another object in another colour and, with ``--prompt-motion none`` (the default), no motion,
or with ``opposite`` the reverse of the reference's direction (does the reference or the prompt's word win?). For every
strength and hold: the strict judge's colour (the prompt's), direction (the reference's) and clean rates (every check
but identity, the direction the reference's), with 95% Wilson intervals, and the correlation of the object's centroid
track with the reference's along the reference's axis (over the frames where both are found). Choose settings with one
``--seed`` and report them with another.
"""

from __future__ import annotations

import argparse
import itertools

from video_to_video import (  # research/, the folder this script runs from
    OPPOSITE,
    another,
    rate_parts,
    real_sources,
    save_strips,
)


def centroid_track(frames, colour: str):
    """The centroid ``(y, x)`` of the largest blob of ``colour`` in each frame, ``(F, 2)`` (NaN where none)."""
    import numpy as np
    from scipy import ndimage

    from dsdn.data.toy_world import COLOURS
    from dsdn.evaluation.clean import colour_labels

    labels, want = colour_labels(frames), list(COLOURS).index(colour)
    track = np.full((len(frames), 2), np.nan)
    for f, frame_labels in enumerate(labels):
        blobs, count = ndimage.label(frame_labels == want)
        if count:
            largest = 1 + int(np.argmax(ndimage.sum_labels(np.ones_like(blobs), blobs, range(1, count + 1))))
            track[f] = np.argwhere(blobs == largest).mean(axis=0)
    return track


def track_correlation(reference, generated, axis: int) -> float:
    """Pearson correlation of two centroid tracks along ``axis`` (0: y, 1: x) over the frames where both are found;
    NaN when fewer than three are, or when either does not move."""
    import numpy as np

    both = ~(np.isnan(reference).any(1) | np.isnan(generated).any(1))
    a, b = reference[both, axis], generated[both, axis]
    if both.sum() < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def main() -> None:
    import numpy as np
    import torch

    from dsdn.data.toy_world import COLOURS, OBJECTS, object_scale
    from dsdn.evaluation.clean import judge_strict
    from dsdn.generate import load_pipeline, model_toy_world, resolve_model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="DSDN model folder (default: the shipped model)")
    ap.add_argument("--clips", type=int, default=32, help="reference clips (pairs of reference and prompt)")
    ap.add_argument("--strengths", default="0.9", help="comma-separated strengths in (0, 1]")
    ap.add_argument("--holds", default="0.5", help="comma-separated motion holds in [0, 1]")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    ap.add_argument("--seed", type=int, default=0, help="pair k renders and samples with seed SEED + k")
    ap.add_argument("--prompt-motion", choices=("none", "opposite"), default="none")
    ap.add_argument("--strips", default=None, help="write a PNG: each reference, then its clip at each setting")
    args = ap.parse_args()
    settings = list(itertools.product([float(s) for s in args.strengths.split(",")],
                                      [float(h) for h in args.holds.split(",")]))  # fmt: skip
    world = model_toy_world(resolve_model_dir(args.model)) or "v1"
    pipe = load_pipeline(args.model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    results = {s: [] for s in settings}
    lines, strips = [], []
    for motion, obj, colour, background, seed, reference in real_sources(world, args.clips, args.seed, size):
        new, new_obj = another(COLOURS, colour, seed), another(OBJECTS, obj, seed)  # not the reference's
        prompt = f"a {new} {new_obj}" + ("" if args.prompt_motion == "none" else f" moving {OPPOSITE[motion]}")
        reference_track = centroid_track(reference, colour)
        row = [reference]
        for strength, hold in settings:
            video = pipe(prompt, motion_video=reference, strength=strength, motion_hold=hold, num_frames=len(reference),
                         num_inference_steps=args.steps, output_type="np",
                         generator=torch.Generator("cpu").manual_seed(seed)).frames[0]  # fmt: skip
            frames = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
            j = judge_strict(frames, new, motion, object_scale=object_scale(world), obj=new_obj)
            axis = 1 if motion in ("left", "right") else 0
            corr = track_correlation(reference_track, centroid_track(frames, new), axis)
            results[(strength, hold)].append((j.colour_ok, j.direction_ok, j.clean, corr))
            lines.append(f"  {prompt!r} from a {colour} {obj} moving {motion} ({background}), strength {strength} hold "
                         f"{hold}: colour {j.colour_ok}  reference's direction {j.direction_ok}  clean {j.clean}  "
                         f"track correlation {corr:.2f}" + ("" if j.clean else f" (fails {', '.join(j.failed_checks())})"))  # fmt: skip
            row.append(frames)
        strips.append(np.concatenate([np.concatenate(list(r), axis=1) for r in row], axis=0))
    print(f"pairs={args.clips}  world={world}  prompt's motion words: {args.prompt_motion}  seed={args.seed}")
    for (strength, hold), rows in results.items():
        parts = rate_parts(rows, "reference")
        corrs = np.array([r[3] for r in rows])
        found = corrs[~np.isnan(corrs)]
        median = f"{np.median(found):.2f}" if len(found) else "n/a"
        parts.append(f"track correlation median {median} ({int((found >= 0.9).sum())} of {len(rows)} >= 0.9)")
        print(f"strength {strength} hold {hold}: " + "  ".join(parts))
    print("\n".join(lines))
    save_strips(args.strips, strips)


if __name__ == "__main__":
    main()
