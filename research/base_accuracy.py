"""How well a base draws toy-world objects as a text-to-image model, one frame per prompt and seed.

DSDN's content stream is this base plus a LoRA, so a base that cannot draw a digit caps the videos'
object identity. For each prompt of the evaluation's form it samples single frames and reports, per
object kind (digits, shapes): the classifier's object identity, the asked colour, one object, no
ghost and, for solid shapes, no marks inside the outline (the strict judge's per-frame checks; the
mean share of marked inside pixels too), and real frames' identity for reference.

    python research/base_accuracy.py --base src/dsdn/default_model/base --judge outputs/judge
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from dsdn.data.toy_world import COLOURS, OBJECTS, ClipSpec, caption_for, object_scale, render_clip
from dsdn.evaluation.clean import judge_strict
from dsdn.evaluation.judge import ToyJudge
from dsdn.evaluation.toy import LINEAR_MOTIONS
from dsdn.loading import load_base


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="src/dsdn/default_model/base")
    ap.add_argument("--judge", default="outputs/judge")
    ap.add_argument("--seeds", type=int, default=4, help="frames per object and colour")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--toy-world", default="v1", help="toy-world version of the real reference frames")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    from diffusers import DDIMScheduler, StableDiffusionPipeline

    parts = load_base(args.base)
    parts["scheduler"] = DDIMScheduler.from_config(parts["scheduler"].config)
    pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    judge = ToyJudge.load(args.judge)
    rows = []
    for oi, obj in enumerate(OBJECTS):
        for ci, colour in enumerate(COLOURS):
            prompts = [caption_for(ClipSpec(obj, colour, LINEAR_MOTIONS[(oi + ci + s) % len(LINEAR_MOTIONS)]), 0)
                       for s in range(args.seeds)]  # fmt: skip
            gen = torch.Generator().manual_seed(1000 * oi + ci)
            images = pipe(prompts, num_inference_steps=args.steps, guidance_scale=args.guidance, generator=gen,
                          output_type="np").images  # fmt: skip
            named = [judge.classes[i] for i in judge(judge._frames(images)).argmax(1).tolist()]
            spec = ClipSpec(obj, colour, "right", seed=oi * 10 + ci, version=args.toy_world)
            real = render_clip(spec, num_frames=2)[:1]
            real_named = judge.classes[int(judge(judge._frames(real)).argmax(1))]
            for img, name in zip(images, named):
                # (only its per-frame checks are read)
                s = judge_strict(np.stack([img, img]), colour, "right", object_scale=object_scale(args.toy_world),
                                 obj=obj)  # fmt: skip
                rows.append(
                    {
                        "object": obj,
                        "colour": colour,
                        "identity": name == obj,
                        "colour_ok": s.colour_ok,
                        "one_object": s.one_object,
                        "no_ghost": not s.ghost,
                        "no_marks": s.no_marks,  # None for digits: a stroke has no inside
                        "mark_share": s.marks,
                        "real_identity": real_named == obj,
                    }
                )
    out = {}
    kinds = (("digits", lambda o: o.startswith("digit")), ("shapes", lambda o: not o.startswith("digit")),
             ("all", lambda o: True))  # fmt: skip
    for kind, keep in kinds:
        sel = [r for r in rows if keep(r["object"])]
        out[kind] = {k: round(100 * float(np.mean([r[k] for r in sel])), 1)
                     for k in ("identity", "colour_ok", "one_object", "no_ghost", "real_identity")}  # fmt: skip
        solid = [r for r in sel if r["no_marks"] is not None]
        if solid:
            out[kind]["no_marks"] = round(100 * float(np.mean([bool(r["no_marks"]) for r in solid])), 1)
            out[kind]["mark_share"] = round(100 * float(np.mean([r["mark_share"] for r in solid])), 2)
        out[kind]["frames"] = len(sel)
        print(f"{kind:7s} " + "  ".join(f"{k} {v}" for k, v in out[kind].items()))
    per_object = {o: round(100 * float(np.mean([r["identity"] for r in rows if r["object"] == o])), 1) for o in OBJECTS}
    print("identity by object: " + "  ".join(f"{o} {v:.0f}" for o, v in per_object.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"base": args.base, "by_kind": out, "identity_by_object": per_object, "seeds": args.seeds}, f,
                      indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
