"""Measure direction/colour/visibility/shape-kept accuracy of a DSDN model for several motion coherences γ,
motion combiners, motion-stream guidance scales and (content) guidance scales.

DESIGN.md: γ's default "is chosen by measurement". This script is that measurement. It uses
prompts and seeds disjoint from ``dsdn eval toy``'s (``selection_prompts``: none of its first
96 prompts; sampling seeds from 1000), so the defaults are not picked on the evaluation set.
γ and the combiner act after denoising, so each guidance pair denoises every clip once and
judges it under every (γ, combiner) (``evaluate_combiners``). With ``--write`` it stores the
best setting (by direction + colour + visibility + shape-kept accuracy; ties to the smaller γ,
then the smaller motion guidance, then the smaller guidance, then the combiner listed first) as
the model's defaults.

    python scripts/choose_motion_coherence.py --model src/dsdn/default_model --write
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dsdn.evaluation.toy import evaluate_combiners, selection_prompts
from dsdn.motion_codec import COMBINERS
from dsdn.pipeline import DSDNPipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--gammas", default="0,0.25,0.5,0.75,0.9")
    ap.add_argument("--combiners", default="causal", help=f"motion combiners to try: {', '.join(COMBINERS)}")
    ap.add_argument("--motion-guidances", default="7.5",
                    help="motion-stream guidance scales to try (7.5 = the content stream's default)")
    ap.add_argument("--guidances", default="7.5",
                    help="guidance scales of the content stream (and of the motion stream without its own) to try")
    ap.add_argument("--prompts", type=int, default=32, help="selection prompts (none among the evaluation's)")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--write", action="store_true", help="store the best setting in the model's config.json")
    args = ap.parse_args()
    pipe = DSDNPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    prompts = selection_prompts(args.prompts)
    results = {}
    floats = lambda text: [float(x) for x in text.split(",")]  # noqa: E731
    combiners = args.combiners.split(",")
    for c in combiners:
        if c not in COMBINERS:
            ap.error(f"--combiners: {c!r} is not one of {', '.join(COMBINERS)}")
    settings = [(g, c) for c in combiners for g in floats(args.gammas)]
    for cg in floats(args.guidances):
        for mg in floats(args.motion_guidances):
            by_setting = evaluate_combiners(pipe, prompts, settings, seed=1000, steps=args.steps, progress=False,
                                            motion_guidance_scale=mg, guidance_scale=cg)  # fmt: skip
            for (g, c), r in by_setting.items():
                results[(g, mg, cg, c)] = r
                print(f"gamma={g:.2f}  combiner={c}  motion-guidance={mg:g}  guidance={cg:g}  "
                      f"direction={r['direction_acc']:.1%}  colour={r['colour_acc']:.1%}  visible={r['visible_acc']:.1%}  "
                      f"shape-kept={r['shape_kept_acc']:.1%}  (n={r['clips']})", flush=True)  # fmt: skip

    def score(key):
        r = results[key]
        accuracy = r["direction_acc"] + r["colour_acc"] + r["visible_acc"] + r["shape_kept_acc"]
        return (accuracy, -key[0], -key[1], -key[2], -combiners.index(key[3]))

    best_g, best_mg, best_cg, best_c = max(results, key=score)
    print(f"best gamma={best_g} combiner={best_c} motion-guidance={best_mg:g} guidance={best_cg:g}")
    if args.write:
        path = Path(args.model) / "config.json"
        config = json.loads(path.read_text())
        config["motion_coherence"] = best_g
        config["combiner"] = best_c
        config["motion_guidance_scale"] = best_mg
        config["guidance_scale"] = best_cg
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        print(f"wrote motion_coherence={best_g}, combiner={best_c}, motion_guidance_scale={best_mg:g}, "
              f"guidance_scale={best_cg:g} to {path}")  # fmt: skip


if __name__ == "__main__":
    main()
