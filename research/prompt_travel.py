"""Prompt travel on the toy world: does the clip's colour follow the two prompts?

    python research/prompt_travel.py [--model DIR] [--clips 16] [--frames 16] [--context-frames N] [--steps N]
        [--strips travel.png]

Clip k asks ``{0: "a C1 O bouncing", frames/2: "a C2 O bouncing"}`` (object and colour pair drawn without repeats, C1 ≠
C2) with the model's defaults. The strict judge reads the first and the last quarter of the clip: the colour follows
when the first quarter's object is C1's and the last quarter's C2's; one object when both quarters show one object
and no ghost. Reports both with 95% Wilson intervals, then each clip's line.
"""

from __future__ import annotations

import argparse
import itertools


def main() -> None:
    import numpy as np
    import torch
    from PIL import Image

    from dsdn.data.toy_world import COLOURS, OBJECTS, object_scale
    from dsdn.evaluation.benchmark import interval
    from dsdn.evaluation.clean import judge_strict
    from dsdn.generate import load_pipeline, model_toy_world, resolve_model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="DSDN model folder (default: the shipped model)")
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--context-frames", type=int, default=None, help="denoise in windows of this many frames")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    ap.add_argument("--seed", type=int, default=0, help="clip k samples with seed SEED + k")
    ap.add_argument("--strips", default=None, help="write a PNG: each clip's frames in a row")
    args = ap.parse_args()
    world = model_toy_world(resolve_model_dir(args.model)) or "v1"
    pipe = load_pipeline(args.model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    combos = [(o, a, b) for o in OBJECTS for a, b in itertools.permutations(COLOURS, 2)]
    order = np.random.default_rng(args.seed).permutation(len(combos))
    quarter = max(1, args.frames // 4)
    rows, strips = [], []
    for k in range(args.clips):
        obj, first, last = combos[order[k % len(combos)]]
        travel = {0: f"a {first} {obj} bouncing", args.frames // 2: f"a {last} {obj} bouncing"}
        video = pipe(travel, num_frames=args.frames, context_frames=args.context_frames, output_type="np",
                     num_inference_steps=args.steps, generator=torch.Generator("cpu").manual_seed(args.seed + k),
                     ).frames[0]  # fmt: skip
        frames = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
        head, tail = (
            judge_strict(part, colour, "bouncing", object_scale=object_scale(world))
            for part, colour in ((frames[:quarter], first), (frames[-quarter:], last))
        )
        follows = head.colour_ok and tail.colour_ok
        one = all(j.one_object and not j.ghost for j in (head, tail))
        rows.append((f"{first} → {last} {obj}", follows, one))
        strips.append(np.concatenate(list(frames), axis=1))
    print(f"clips={len(rows)}  world={world}  frames={args.frames}  context frames={args.context_frames}")
    for name, col in (("colour follows the prompts", 1), ("one object in both quarters", 2)):
        mean, low, high = interval([float(r[col]) for r in rows], binary=True)
        print(f"{name}: {100 * mean:.1f}% [{100 * low:.1f}, {100 * high:.1f}]")
    for name, follows, one in rows:
        print(f"  {name}: colour follows {follows}  one object {one}")
    if args.strips:
        Image.fromarray(np.concatenate(strips, axis=0)).save(args.strips)
        print(f"wrote {args.strips}")


if __name__ == "__main__":
    main()
