"""Object carry's path search, swapped for a variant, then any ``dsdn`` command run with it.

:func:`dsdn.carry.read_path` finds each frame's displacement of frame 1's object in two passes: a whole-pixel
search (:func:`dsdn.carry._whole_shift`), then a quarter-pixel refinement around it. This script replaces the
first pass by one of the variants the lab log compares, then runs the rest of its command line as ``dsdn``
would, so that a sweep or an evaluation judges the variant on the same prompts and seeds:

    python research/carry_path_variants.py --variant local -- eval sweep --model src/dsdn/default_model \\
        --judge outputs/judge-v3 --gammas 0.5 --syncs 1 --shared-noises 0.8 --carry-froms 0.8 --prompts 48

Variants (``d``: a candidate's distance from the path's extrapolation, in latent pixels; ``still``: the frame's
cost with frame 1 staying):

* ``local``: the search before 2026-12-04: ±2 whole pixels around the extrapolation, nothing farther;
* ``pull-0.02``: every shift up to half the frame, cost + 0.02 · still · d²;
* ``relative-0.02``: every shift up to half the frame, gain − 0.02 · (best gain) · d²;
* ``shipped``: :mod:`dsdn.carry` as it is (every shift up to half the frame, cost + 0.005 · still · d²).
"""

from __future__ import annotations

import argparse
import sys

import torch

import dsdn.carry as carry
from dsdn.carry import _best, _costs, _totals, shifted


def _moved_totals(first, frame, still, grid):
    return _totals(_costs(shifted(first, grid), frame), still)


def local(first, frame, still, grid, guess):
    ticks = torch.arange(-2, 3, dtype=torch.float32)
    around = torch.stack(torch.meshgrid(ticks, ticks, indexing="ij"), dim=-1).reshape(-1, 2)
    whole = torch.round(guess) + around
    return whole[_best(_costs(shifted(first, whole), frame), still, whole)]


def pull(weight: float):
    def search(first, frame, still, grid, guess):
        total = _moved_totals(first, frame, still, grid) + weight * float(still.sum()) * (grid - guess).pow(2).sum(-1)
        return grid[int(total.argmin())]

    return search


def relative(weight: float):
    def search(first, frame, still, grid, guess):
        gain = float(still.sum()) - _moved_totals(first, frame, still, grid)
        return grid[int((gain - weight * float(gain.max()) * (grid - guess).pow(2).sum(-1)).argmax())]

    return search


VARIANTS = {"local": local, "pull-0.02": pull(0.02), "relative-0.02": relative(0.02), "shipped": carry._whole_shift}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ours, rest = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    args = ap.parse_args(ours)
    if not rest:
        ap.error("give the dsdn command to run after '--', e.g. -- eval sweep --model M")
    carry._whole_shift = VARIANTS[args.variant]
    from dsdn.cli import app

    app(args=rest, prog_name="dsdn")


if __name__ == "__main__":
    main()
