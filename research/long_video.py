"""Long videos on the toy world: 64 frames of a bouncing object, denoised in context windows.

    python research/long_video.py [--model DIR] [--clips 16] [--frames 64] [--context-frames 8] [--context-stride 4]
                                  [--loop] [--seed 0] [--strips long.png]

Each clip is "a {colour} {object} bouncing" (colours and objects in turn, seed SEED + k). Reports, with 95% intervals:
the seconds per clip; the share of clips whose asked-colour object is visible and one object in every frame (the strict
judge's one-object check) and keeps its colour; the clean rate (every pixel check of the strict judge; bouncing has no
single direction); how often the object changes direction (reversals of its centroid along its main axis by at least
:data:`REVERSAL_PX` pixels); and the warping error of the frame pairs that cross a window seam (a window starts or ends
between them) against the pairs inside windows, as their ratio per clip; and the warping error from the last frame
to the first against the mean of the clip's frame-to-frame pairs (how well the clip loops; ``--loop`` makes the
windows wrap around the clip's end).
"""

from __future__ import annotations

import argparse
import itertools
import time

REVERSAL_PX = 3.0  # pixels (64×64) the centroid must travel back before a reversal counts (jitter does not)


def reversals(track) -> int:
    """Direction changes of a 1-D position track: a move of at least :data:`REVERSAL_PX` back from the farthest point
    reached since the last change (jitter below it does not count; the first move sets the direction)."""
    count, direction, high, low = 0, 0, track[0], track[0]
    for p in track[1:]:
        high, low = max(high, p), min(low, p)
        if direction >= 0 and p <= high - REVERSAL_PX:
            count, direction, low = count + (direction > 0), -1, p
        elif direction <= 0 and p >= low + REVERSAL_PX:
            count, direction, high = count + (direction < 0), 1, p
    return count


def main() -> None:
    import numpy as np
    import torch
    from PIL import Image

    from dsdn.data.toy_world import COLOURS, OBJECTS, object_scale
    from dsdn.evaluation.benchmark import interval
    from dsdn.evaluation.clean import colour_labels, judge_strict
    from dsdn.evaluation.metrics import warping_error
    from dsdn.generate import load_pipeline, model_toy_world, resolve_model_dir
    from dsdn.long_video import ContextWindows

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="DSDN model folder (default: the shipped model)")
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--context-frames", type=int, default=8)
    ap.add_argument("--context-stride", type=int, default=4)
    ap.add_argument("--anchor", action="store_true", help="every later window also holds the clip's frame 1")
    ap.add_argument("--loop", action="store_true", help="windows wrap around the clip's end (a looping clip)")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strips", default=None, help="write a PNG: each clip's frames, 16 to a row")
    args = ap.parse_args()
    world = model_toy_world(resolve_model_dir(args.model)) or "v1"
    pipe = load_pipeline(args.model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    combos = list(itertools.product(COLOURS, OBJECTS))
    order = np.random.default_rng(args.seed).permutation(len(combos))
    starts = ContextWindows(args.frames, args.context_frames, args.context_stride, loop=args.loop).starts
    ends = {(s + args.context_frames) % args.frames for s in starts}  # frame k: pair (k-1, k) crosses a seam
    edges = ({s for s in starts} | ends) - {0}
    rows, strips = [], []
    for k in range(args.clips):
        colour, obj = combos[order[k % len(combos)]]
        prompt = f"a {colour} {obj} bouncing"
        t0 = time.perf_counter()
        video = pipe(prompt, num_frames=args.frames, context_frames=args.context_frames,
                     context_stride=args.context_stride, context_anchor=args.anchor, loop=args.loop, num_inference_steps=args.steps,
                     output_type="np",
                     generator=torch.Generator("cpu").manual_seed(args.seed + k)).frames[0]  # fmt: skip
        seconds = time.perf_counter() - t0
        frames = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
        j = judge_strict(frames, colour, "bouncing", object_scale=object_scale(world), obj=obj)
        mine = colour_labels(frames) == list(COLOURS).index(colour)
        visible = bool(mine.reshape(len(mine), -1).any(axis=1).all())
        turns = 0
        if visible:
            centres = np.asarray([np.argwhere(m).mean(axis=0) for m in mine]) * 64 / frames.shape[1]
            axis = int(np.argmax(centres.std(axis=0)))
            turns = reversals(centres[:, axis])
        pairs = [warping_error(frames[i - 1 : i + 1]) for i in range(1, len(frames))]
        seam = [e for i, e in zip(range(1, len(frames)), pairs) if i in edges]
        inside = [e for i, e in zip(range(1, len(frames)), pairs) if i not in edges]
        ratio = float(np.mean(seam) / max(np.mean(inside), 1e-9)) if seam and inside else float("nan")
        wrap = float(warping_error(frames[[-1, 0]]) / max(np.mean(pairs), 1e-9))
        rows.append(dict(prompt=prompt, seconds=seconds, one=visible and j.one_object, colour=j.colour_ok,
                         clean=j.clean, turns=turns, ratio=ratio, wrap=wrap, failed=j.failed_checks()))  # fmt: skip
        padded = np.concatenate([frames, np.zeros_like(frames[: -len(frames) % 16])])  # whole rows of 16
        strips.append(np.concatenate([np.concatenate(list(padded[i : i + 16]), axis=1)
                                      for i in range(0, len(padded), 16)], axis=0))  # fmt: skip
    print(f"clips={len(rows)}  world={world}  frames={args.frames}  windows of {args.context_frames}, stride "
          f"{args.context_stride} ({len(starts)} windows)  anchor={args.anchor}  loop={args.loop}  seed={args.seed}")  # fmt: skip
    for name, key, binary in (("seconds per clip", "seconds", False), ("visible and one object in every frame", "one",
                              True), ("colour kept", "colour", True), ("clean (pixel checks)", "clean", True),
                              ("direction changes", "turns", False), ("seam / inside warping error", "ratio", False),
                              ("last-to-first / mean warping error", "wrap", False)):  # fmt: skip
        mean, low, high = interval([float(r[key]) for r in rows], binary=binary)
        scale = 100 if binary else 1
        unit = "%" if binary else ""
        print(f"{name}: {scale * mean:.2f}{unit} [{scale * low:.2f}, {scale * high:.2f}]")
    print(f"clips changing direction at least twice: {sum(r['turns'] >= 2 for r in rows)} of {len(rows)}")
    for r in rows:
        print(
            f"  {r['prompt']}: {r['seconds']:.1f} s  one object {r['one']}  colour {r['colour']}  turns {r['turns']}  "
            f"seam/inside {r['ratio']:.2f}  last-to-first/mean {r['wrap']:.2f}"
            + ("" if r["clean"] else f"  (fails {', '.join(r['failed'])})")
        )
    if args.strips:
        Image.fromarray(np.concatenate(strips, axis=0)).save(args.strips)
        print(f"wrote {args.strips}")


if __name__ == "__main__":
    main()
