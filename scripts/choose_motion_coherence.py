"""Measure direction/colour/visibility accuracy of a DSDN model for several motion coherences γ.

DESIGN.md: γ's default "is chosen by measurement". This script is that measurement. It uses
prompts and seeds disjoint from ``dsdn eval toy``'s (prompt set seed 1, sampling seeds from
1000), so the default is not picked on the evaluation set. With ``--write`` it stores the best
γ (by direction + colour accuracy, ties to the smaller γ) as the model's default.

    python scripts/choose_motion_coherence.py --model src/dsdn/default_model --write
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dsdn.evaluation.toy import evaluate_prompts, toy_prompts
from dsdn.pipeline import DSDNPipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--gammas", default="0,0.25,0.5,0.75,0.9")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--write", action="store_true", help="store the best γ in the model's config.json")
    args = ap.parse_args()
    pipe = DSDNPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    prompts = toy_prompts("train", args.prompts, seed=1)
    results = {}
    for g in (float(x) for x in args.gammas.split(",")):
        r = evaluate_prompts(pipe, prompts, seed=1000, steps=args.steps, progress=False, motion_coherence=g)
        results[g] = r
        print(f"gamma={g:.2f}  direction={r['direction_acc']:.1%}  colour={r['colour_acc']:.1%}  "
              f"visible={r['visible_acc']:.1%}  (n={r['clips']})", flush=True)  # fmt: skip
    best = max(results, key=lambda g: (results[g]["direction_acc"] + results[g]["colour_acc"], -g))
    print(f"best gamma={best}")
    if args.write:
        path = Path(args.model) / "config.json"
        config = json.loads(path.read_text())
        config["motion_coherence"] = best
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        print(f"wrote motion_coherence={best} to {path}")


if __name__ == "__main__":
    main()
