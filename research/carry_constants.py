"""Object carry's constants, on the sweep's selection prompts: the clean rate per value of one of them.

    python research/carry_constants.py --constant PULL --values 0.005,0.05,0.5 --judge outputs/judge-v3
        [--prompts 96] [--out DIR] [--model DIR] [--steps N] [--split selection|evaluation|heldout]

``PULL``: object carry reads each later frame's displacement of frame 1's object with a mild pull toward where the
path so far points (a share of the frame's cost); a stronger pull makes a badly drawn frame less able to send the
carried object off its line or ahead of its pace (the strict judge's *steady path*). ``SMOOTH``: the weight of the
carried path's bends (:func:`dsdn.carry.smooth_path`; 0 carries the path as read). Every value samples the same
prompts and seeds with the model's defaults; the clips are paired by prompt. ``--split selection`` (the default) takes
``dsdn eval sweep``'s prompts, on which a value is chosen; ``evaluation`` and ``heldout`` take ``dsdn eval toy``'s (seed 0),
on which a chosen value is confirmed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    from dsdn import DSDNPipeline, carry
    from dsdn.data.toy_world import object_scale
    from dsdn.evaluation.compare import mcnemar_exact
    from dsdn.evaluation.judge import ToyJudge
    from dsdn.evaluation.sweep import SELECTION_SEED
    from dsdn.evaluation.toy import evaluate_prompts, selection_prompts, toy_prompts
    from dsdn.generate import default_model_dir, model_toy_world

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--constant", choices=("PULL", "SMOOTH"), default="PULL", help="which of dsdn.carry's constants")
    ap.add_argument("--values", default="0.005,0.05,0.5", help="its values, comma-separated; the first is the baseline")
    ap.add_argument("--prompts", type=int, default=96)
    ap.add_argument("--judge", default=None, help="a judge from 'dsdn eval train-judge' (adds identity)")
    ap.add_argument("--model", default=None, help="DSDN model folder (default: the shipped model)")
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    ap.add_argument("--split", choices=("selection", "evaluation", "heldout"), default="selection")
    ap.add_argument("--out", default=None, help="write each value's records here as JSON")
    args = ap.parse_args()
    model = Path(args.model) if args.model else default_model_dir()
    pipe = DSDNPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    world = model_toy_world(model) or "v1"
    judge = None if args.judge is None else ToyJudge.load(args.judge, toy_world=world)
    if args.split == "selection":
        prompts, seed = selection_prompts(args.prompts), SELECTION_SEED
    else:
        prompts, seed = toy_prompts("train" if args.split == "evaluation" else "heldout", args.prompts, 0), 0
    runs = {}
    name = args.constant.lower()
    for value in (float(p) for p in args.values.split(",")):
        setattr(carry, args.constant, value)
        r = evaluate_prompts(pipe, prompts, seed=seed, steps=args.steps or pipe.default_steps(), progress=False,
                             judge=judge, object_scale=object_scale(world))  # fmt: skip
        runs[value] = [x["strict"]["clean"] for x in r["records"]]
        s = r["strict"]
        print(f"{name} {value:g}: " + "  ".join(f"{k} {v:.1%}" for k, v in s.items()), flush=True)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / f"{name}_{value:g}.json").write_text(json.dumps(r["records"]))
    base = next(iter(runs))
    for value, clean in list(runs.items())[1:]:
        only_base = sum(a and not b for a, b in zip(runs[base], clean))
        only_this = sum(b and not a for a, b in zip(runs[base], clean))
        print(
            f"{name} {value:g} against {base:g}: clean only with {base:g} {only_base}, only with {value:g} "
            f"{only_this}, exact McNemar p {mcnemar_exact(only_base, only_this):.2f}"
        )


if __name__ == "__main__":
    main()
