"""Video-to-video on the toy world: does the colour follow the prompt while the motion follows the source?

    python research/video_to_video.py [--model DIR] [--clips 16] [--strengths 0.4,0.6,0.8] [--seed 0]
                                      [--prompt-motion source|opposite] [--strips v2v.png]

Each source is a real toy-world clip (the four directions in turn, object, colour and background drawn without
repeats); the prompt names the same object in another colour and, with ``--prompt-motion source`` (the default), the
source's direction, or with ``opposite`` the reverse one (does the source's motion or the prompt's word win?). For
every strength: the strict judge's colour (the prompt's), direction (the source's) and clean rates (every check but
identity, the direction the source's) with 95% Wilson intervals. Choose a strength with one ``--seed`` and report it
with another.
"""

from __future__ import annotations

import argparse
import itertools

OPPOSITE = {"left": "right", "right": "left", "up": "down", "down": "up"}


def another(choices, current: str, seed: int) -> str:
    """One of ``choices`` other than ``current``, picked by ``seed``."""
    choices = list(choices)
    return choices[(choices.index(current) + 1 + seed % (len(choices) - 1)) % len(choices)]


def rate_parts(rows, direction_of: str) -> list[str]:
    """The colour (the prompt's), direction (``direction_of``'s) and clean rates of ``rows`` of
    ``(colour_ok, direction_ok, clean, ...)``, each with its 95% Wilson interval."""
    from dsdn.evaluation.benchmark import rate_text

    names = ("colour (prompt's)", f"direction ({direction_of}'s)", "clean")
    return [f"{name} {rate_text(r[col] for r in rows)}" for col, name in enumerate(names)]


def save_strips(path: str | None, strips) -> None:
    """Stack the strips' rows into one PNG at ``path`` (nothing without one)."""
    if path:
        import numpy as np
        from PIL import Image

        Image.fromarray(np.concatenate(strips, axis=0)).save(path)
        print(f"wrote {path}")


def real_sources(world: str, clips: int, seed: int, size: int):
    """``clips`` real toy-world clips to start from, the four directions in turn and object, colour and background
    drawn without repeats: ``(motion, object, colour, background, seed, frames)`` each, the frames ``(F, size, size,
    3)`` uint8 (clip k renders with seed ``seed + k``)."""

    import numpy as np
    from PIL import Image

    from dsdn.data.toy_world import BACKGROUNDS, COLOURS, OBJECTS, ClipSpec, render_clip

    combos = list(itertools.product(OBJECTS, COLOURS, BACKGROUNDS))
    order = np.random.default_rng(seed).permutation(len(combos))
    for k in range(clips):
        motion, (obj, colour, background) = ("left", "right", "up", "down")[k % 4], combos[order[k % len(combos)]]
        frames = render_clip(ClipSpec(obj, colour, motion, "quickly", background, seed=seed + k, version=world))
        if frames.shape[1] != size:
            frames = np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in frames])
        yield motion, obj, colour, background, seed + k, frames


def main() -> None:
    import numpy as np
    import torch

    from dsdn.data.toy_world import COLOURS, object_scale
    from dsdn.evaluation.clean import judge_strict
    from dsdn.generate import load_pipeline, model_toy_world, resolve_model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="DSDN model folder (default: the shipped model)")
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--strengths", default="0.4,0.6,0.8", help="comma-separated strengths in (0, 1]")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    ap.add_argument("--seed", type=int, default=0, help="clip k renders and samples with seed SEED + k")
    ap.add_argument("--prompt-motion", choices=("source", "opposite"), default="source")
    ap.add_argument("--strips", default=None, help="write a PNG: each source, then its clip at each strength")
    args = ap.parse_args()
    strengths = [float(s) for s in args.strengths.split(",")]
    world = model_toy_world(resolve_model_dir(args.model)) or "v1"
    pipe = load_pipeline(args.model, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    results = {s: [] for s in strengths}
    lines, strips = [], []
    for motion, obj, colour, background, seed, source in real_sources(world, args.clips, args.seed, size):
        new = another(COLOURS, colour, seed)  # any colour but the source's
        asked = motion if args.prompt_motion == "source" else OPPOSITE[motion]
        prompt = f"a {new} {obj} moving {asked}"
        row = [source]
        for strength in strengths:
            video = pipe(prompt, video=source, strength=strength, num_frames=len(source), num_inference_steps=args.steps,
                         output_type="np", generator=torch.Generator("cpu").manual_seed(seed)).frames[0]  # fmt: skip
            frames = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
            j = judge_strict(frames, new, motion, object_scale=object_scale(world), obj=obj)
            results[strength].append((j.colour_ok, j.direction_ok, j.clean))
            lines.append(f"  {prompt} from a {colour} one moving {motion} ({background}), strength {strength}: "
                         f"colour {j.colour_ok}  source's direction {j.direction_ok}  clean {j.clean}"
                         + ("" if j.clean else f" (fails {', '.join(j.failed_checks())})"))  # fmt: skip
            row.append(frames)
        strips.append(np.concatenate([np.concatenate(list(r), axis=1) for r in row], axis=0))
    print(f"clips={args.clips}  world={world}  prompt's motion word: the {args.prompt_motion}'s  seed={args.seed}")
    for strength, rows in results.items():
        print(f"strength {strength}: " + "  ".join(rate_parts(rows, "source")))
    print("\n".join(lines))
    save_strips(args.strips, strips)


if __name__ == "__main__":
    main()
