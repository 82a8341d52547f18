"""Compare two ``dsdn eval toy --json`` results clip by clip (same prompts and seeds): the rate of one check
(default: the strict judge's clean) of each, how many clips only one of them gets right, and the exact McNemar test on those discordant clips.

    python scripts/compare_toy_evals.py A.json B.json [--split train] [--attribute clean] [--common]

With 48 or 96 clips, two accuracies a few points apart can come from the sampling noise alone; the paired test
asks whether one model gets right more of the clips the other gets wrong than chance would give.
"""

from __future__ import annotations

import argparse
import json
from math import comb

from dsdn.evaluation.toy import SHAPE_KEPT

CHECKS = {
    "direction": lambda r: r["direction"] == r["want_direction"],
    "colour": lambda r: r["colour"] == r["want_colour"],
    "visible": lambda r: bool(r["visible_every_frame"]),
    "shape": lambda r: r["shape_kept"] >= SHAPE_KEPT,  # JSONs from before the shape-kept check lack it
    # the strict judge (dsdn.evaluation.clean); JSONs from before it lack these
    "clean": lambda r: r["strict"]["clean"],
    "clean_pixels": lambda r: r["strict"]["clean_pixels"],  # every check but identity
    "identity": lambda r: bool(r["strict"]["identity_ok"]),
    "one_object": lambda r: r["strict"]["one_object"],
    "no_ghost": lambda r: not r["strict"]["ghost"],
    "same_shape": lambda r: r["strict"]["same_shape"],
    "same_background": lambda r: r["strict"]["same_background"],
    "strict_direction": lambda r: bool(r["strict"]["direction_ok"]),
}


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value for ``only_a`` and ``only_b`` discordant pairs."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--split", default="train", help="train or heldout")
    ap.add_argument("--attribute", default="clean", choices=sorted(CHECKS))
    ap.add_argument("--common", action="store_true", help="compare only the clips (prompt, seed) both files judged")
    args = ap.parse_args()
    records = []
    for path in (args.a, args.b):
        data = json.loads(open(path).read())
        if args.split not in data:
            raise SystemExit(f"{path} has no {args.split!r} results (it has: {', '.join(k for k in data if k != 'sampling')})")
        records.append(data[args.split]["records"])
    ra, rb = records
    if args.common:
        both = {(r["prompt"], r["seed"]) for r in ra} & {(r["prompt"], r["seed"]) for r in rb}
        ra, rb = ([r for r in rs if (r["prompt"], r["seed"]) in both] for rs in (ra, rb))
        if not ra:
            raise SystemExit("the two files judged no clip in common (prompt and seed)")
    key = [(r["prompt"], r["seed"]) for r in ra]
    if key != [(r["prompt"], r["seed"]) for r in rb]:
        raise SystemExit("the two files judged different prompts or seeds: run both with the same --prompts/--seed, "
                         "or pass --common")  # fmt: skip
    check = CHECKS[args.attribute]
    if args.attribute not in ("direction", "colour", "visible", "shape") and not all("strict" in r for r in ra + rb):
        raise SystemExit(f"--attribute {args.attribute} needs the strict judge's records: rerun dsdn eval toy")
    ok_a, ok_b = [check(r) for r in ra], [check(r) for r in rb]
    only_a = sum(a and not b for a, b in zip(ok_a, ok_b))
    only_b = sum(b and not a for a, b in zip(ok_a, ok_b))
    n = len(ra)
    from dsdn.evaluation.benchmark import interval

    (_, la, ha), (_, lb, hb) = interval(ok_a, binary=True), interval(ok_b, binary=True)
    print(f"{args.attribute} on {n} clips: A {100 * sum(ok_a) / n:.1f}% [{100 * la:.1f}, {100 * ha:.1f}]  "
          f"B {100 * sum(ok_b) / n:.1f}% [{100 * lb:.1f}, {100 * hb:.1f}]  (95% Wilson intervals)")  # fmt: skip
    print(f"right only in A: {only_a}  right only in B: {only_b}  exact McNemar p = {mcnemar_exact(only_a, only_b):.3f}")


if __name__ == "__main__":
    main()
