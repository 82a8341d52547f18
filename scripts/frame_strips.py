"""Frame strips to look at: one row of frames per clip, labelled with its prompt and the strict judge's verdict.

    python scripts/frame_strips.py --out strips.png [--model DIR] [--prompts 12] [--seed 2000] [--heldout | --selection]
        [--failing] [--stream-sync 1 --shared-noise 0.5 --cross-frame-attention --carry-from 0.64 --early-until 0 ...]
        [--streams]

Prompts are toy-world prompts of the training vocabulary (``--heldout``: the held-out compositions;
``--selection``: ``dsdn eval sweep``'s selection prompts and seeds, to look at the clips a sweep judged); prompt
``i`` uses seed ``seed + i``. ``--failing`` draws only the clips that fail a check. Sampling options not given are
the model's defaults. Each row's label ends with ``clean`` or with the strict checks the clip fails
(:mod:`dsdn.evaluation.clean`). ``--streams`` adds two rows under each clip, decoded from the same final latents:
the content stream alone (γ = 0, each frame as the image model drew it) and the motion stream placed by the
content (γ = 1), to see which stream a defect comes from.
"""

from __future__ import annotations

import argparse

import numpy as np


def strip_image(clips, labels, scale: int = 2, label_width: int = 260):
    """A PIL image: one row per clip ``(F, H, W, 3)`` (uint8 or [0, 1]), its label on the left."""
    from PIL import Image, ImageDraw

    from dsdn.evaluation.metrics import as_uint8

    rows = [np.concatenate([np.pad(f, ((1, 1), (1, 1), (0, 0)), constant_values=128) for f in as_uint8(c)], axis=1)
            for c in clips]  # fmt: skip
    grid = np.concatenate(rows, axis=0)
    frames = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    canvas = Image.new("RGB", (frames.width + label_width, frames.height), (255, 255, 255))
    canvas.paste(frames, (label_width, 0))
    draw, row = ImageDraw.Draw(canvas), frames.height // len(clips)
    for i, text in enumerate(labels):
        draw.text((4, i * row + row // 2 - 6), text, fill=(0, 0, 0))
    return canvas


def verdict(j) -> str:
    """``clean`` or the failed checks of a :class:`~dsdn.evaluation.clean.StrictJudgement`."""
    failed = j.failed_checks()
    return "clean" if not failed else "fails " + ",".join(failed)


def stream_videos(pipe, last: dict, options: dict) -> dict:
    """Each stream's own video from the final latents ``last`` (the callback's ``latents`` and ``motion_latents``):
    the content alone (γ = 0) and the motion placed by the content (γ = 1), with the call's combiner."""
    import torch

    from dsdn.motion_codec import combine_motion

    combiner = pipe.sampling_settings(combiner=options.get("combiner"))["combiner"]
    out = {}
    with torch.no_grad():
        for name, gamma in (("content", 0.0), ("motion", 1.0)):
            lat = combine_motion(last["latents"], last["motion_latents"], pipe.adapter.config.motion_scale, gamma,
                                 combiner)  # fmt: skip
            video = pipe.frame_vae.decode(lat)
            out[name] = pipe.video_processor.postprocess_video(video.float(), output_type="np")
    return out


def main() -> None:
    import torch

    from dsdn.evaluation.clean import judge_prompt
    from dsdn.evaluation.toy import toy_prompts
    from dsdn.generate import model_toy_world, resolve_model_dir
    from dsdn.pipeline import DSDNPipeline

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--model", default=None, help="DSDN model folder (default: the shipped model)")
    ap.add_argument("--prompts", type=int, default=12)
    ap.add_argument("--prompt-seed", type=int, default=7, help="which draw of prompts (dsdn eval toy uses 0)")
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--heldout", action="store_true")
    ap.add_argument("--selection", action="store_true", help="the sweep's selection prompts (seeds from 1000)")
    ap.add_argument("--failing", action="store_true", help="only the clips that fail a check")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    ap.add_argument("--judge", default=None, help="a judge from 'dsdn eval train-judge' (adds identity)")
    for name in ("motion-coherence", "stream-sync", "shared-noise", "carry-from", "early-coherence", "early-until",
                 "guidance", "motion-guidance"):  # fmt: skip
        ap.add_argument(f"--{name}", type=float, default=None)
    ap.add_argument("--combiner", default=None)
    ap.add_argument("--cross-frame-attention", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument(
        "--toy-world", default=None, help="the model's toy world (default: the model's, else the judge's, else v1)"
    )
    ap.add_argument("--streams", action="store_true", help="add each stream's own video under each clip")
    args = ap.parse_args()
    from dsdn.data.toy_world import object_scale
    from dsdn.evaluation.judge import ToyJudge

    model_dir = resolve_model_dir(args.model)
    world = args.toy_world or model_toy_world(model_dir)
    classifier = ToyJudge.load(args.judge, world, "the model is judged as", "pass --toy-world") if args.judge else None
    world = world or (classifier.toy_world if classifier is not None else "v1")
    scale = object_scale(world)
    pipe = DSDNPipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    options = {"motion_coherence": args.motion_coherence, "stream_sync": args.stream_sync, "combiner": args.combiner,
               "shared_noise": args.shared_noise, "carry_from": args.carry_from, "early_coherence": args.early_coherence,
               "early_until": args.early_until, "guidance_scale": args.guidance,
               "motion_guidance_scale": args.motion_guidance,
               "cross_frame_attention": args.cross_frame_attention}  # fmt: skip
    if args.selection:
        from dsdn.evaluation.sweep import SELECTION_SEED
        from dsdn.evaluation.toy import selection_prompts

        prompts, args.seed = selection_prompts(args.prompts), SELECTION_SEED
    else:
        prompts = toy_prompts("heldout" if args.heldout else "train", args.prompts, args.prompt_seed)
    clips, labels = [], []
    for start in range(0, len(prompts), 8):
        chunk = prompts[start : start + 8]
        gens = [torch.Generator().manual_seed(args.seed + start + i) for i in range(len(chunk))]
        last = {}
        frames = pipe(chunk, generator=gens, num_inference_steps=args.steps, output_type="np",
                      callback_on_step_end=lambda pipe, i, t, kw, last=last: last.update(kw),
                      callback_on_step_end_tensor_inputs=["latents", "motion_latents"], **options).frames  # fmt: skip
        streams = stream_videos(pipe, last, options) if args.streams else None
        for k, (prompt, video) in enumerate(zip(chunk, frames)):
            judged = judge_prompt(video, prompt, classifier, scale)
            if args.failing and judged.clean:
                continue
            clips.append(video)
            labels.append(f"{start + k}. {prompt.removeprefix('a ')}: {verdict(judged)}")
            if streams is not None:
                clips += [streams["content"][k], streams["motion"][k]]
                labels += ["  content stream alone (gamma 0)", "  motion stream placed by content (gamma 1)"]
    if not clips:
        print(f"every one of the {len(prompts)} clips is clean: nothing to draw")
        return
    strip_image(clips, labels).save(args.out)
    print(f"wrote {args.out}: " + ", ".join(labels))


if __name__ == "__main__":
    main()
