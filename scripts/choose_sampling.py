"""Choose a DSDN model's sampling defaults by the strict judge's clean rate on selection prompts.

Sweeps the motion combiner, motion coherence γ, stream sync, shared noise, the motion stream's
guidance and the guidance, and judges every clip with :mod:`dsdn.evaluation.clean`. The prompts
and seeds are disjoint from ``dsdn eval toy``'s (``selection_prompts``: none of its first 96
prompts; sampling seeds from 1000), so no default is picked on a prompt the evaluation reports.
Without stream sync, γ and the combiner act only after denoising, so those settings share one
denoising per (shared noise, guidance pair) (``evaluate_combiners``); with it, every setting is
denoised on its own. With ``--write`` the best setting (highest clean rate; ties to the higher sum
of the strict checks, then to the order of the grid) becomes the model's defaults.

    python scripts/choose_sampling.py --model src/dsdn/default_model --write
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from dsdn.evaluation.toy import evaluate_combiners, evaluate_prompts, selection_prompts
from dsdn.motion_codec import COMBINERS
from dsdn.pipeline import DSDNPipeline

KEYS = ("combiner", "motion_coherence", "stream_sync", "shared_noise", "motion_guidance_scale", "guidance_scale")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--combiners", default="least_squares", help=f"motion combiners to try: {', '.join(COMBINERS)}")
    ap.add_argument("--gammas", default="0.5,0.75,1", help="motion coherences γ to try")
    ap.add_argument("--syncs", default="0,1", help="stream sync strengths to try")
    ap.add_argument("--shared-noises", default="0,0.5,0.8", help="shares of content noise common to all frames")
    ap.add_argument("--motion-guidances", default="15", help="motion-stream guidance scales to try")
    ap.add_argument("--guidances", default="7.5", help="guidance scales to try")
    ap.add_argument("--prompts", type=int, default=32, help="selection prompts (none among the evaluation's)")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--write", action="store_true", help="store the best setting in the model's config.json")
    ap.add_argument("--toy-world", default="v1", help="the toy world the model learned (v3: larger objects)")
    args = ap.parse_args()
    from dsdn.data.toy_world import object_scale

    scale = object_scale(args.toy_world)

    def floats(name, text, low=0.0, high=None):
        try:
            values = [float(x) for x in text.split(",")]
        except ValueError:
            ap.error(f"--{name}: {text!r} is not a comma-separated list of numbers")
        if any(not low <= v <= (high if high is not None else float("inf")) for v in values):
            ap.error(f"--{name}: every value must be in [{low}, {high if high is not None else 'inf'}]")
        return values

    combiners = args.combiners.split(",")
    for c in combiners:
        if c not in COMBINERS:
            ap.error(f"--combiners: {c!r} is not one of {', '.join(COMBINERS)}")
    gammas = floats("gammas", args.gammas, 0.0, 1.0)
    syncs = floats("syncs", args.syncs, 0.0, 1.0)
    shared = floats("shared-noises", args.shared_noises, 0.0, 1.0)
    mgs, cgs = floats("motion-guidances", args.motion_guidances), floats("guidances", args.guidances)

    pipe = DSDNPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    prompts = selection_prompts(args.prompts)
    grid = [dict(zip(KEYS, v)) for v in itertools.product(combiners, gammas, syncs, shared, mgs, cgs)]
    results = []
    for rho, mg, cg in itertools.product(shared, mgs, cgs):
        common = {"shared_noise": rho, "motion_guidance_scale": mg, "guidance_scale": cg}
        posthoc = [(g, c) for c in combiners for g in gammas]
        by_setting = {} if 0.0 not in syncs else evaluate_combiners(
            pipe, prompts, posthoc, seed=1000, steps=args.steps, progress=False, object_scale=scale, stream_sync=0.0,
            **common)  # fmt: skip
        for setting in grid:
            if (setting["shared_noise"], setting["motion_guidance_scale"], setting["guidance_scale"]) != (rho, mg, cg):
                continue
            if setting["stream_sync"] == 0.0:
                r = by_setting[(setting["motion_coherence"], setting["combiner"])]
            else:
                r = evaluate_prompts(pipe, prompts, seed=1000, steps=args.steps, progress=False, object_scale=scale,
                                     **setting)  # fmt: skip
            results.append((setting, r))
            strict = r["strict"]
            print("  ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in setting.items()) + "  "
                  + "  ".join(f"{k}={v:.1%}" for k, v in strict.items()) + f"  (n={r['clips']})", flush=True)  # fmt: skip

    best, _ = max(results, key=lambda sr: (sr[1]["strict"]["clean"], sum(sr[1]["strict"].values())))
    print("best " + "  ".join(f"{k}={v}" for k, v in best.items()))
    if args.write:
        path = Path(args.model) / "config.json"
        config = json.loads(path.read_text())
        config.update(best)
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        print(f"wrote the best setting to {path}")


if __name__ == "__main__":
    main()
