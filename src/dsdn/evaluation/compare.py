"""Paired comparison of two ``dsdn eval toy --json`` results (``dsdn eval compare``).

Both files must have judged the same clips (prompts and seeds). For each check, the rate of each file
with its 95% Wilson interval, how many clips only one of them gets right, and the exact McNemar test on
those discordant clips (a two-sided binomial test at 1/2). With 48 or 96 clips, two rates a few points
apart can come from the sampling noise alone; the paired test asks whether one model gets right more of
the clips the other gets wrong than chance would give.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import DSDNInputError
from .toy import SHAPE_KEPT

#: Check name -> whether a clip's record passes it. The lenient judges' checks first, then the strict judge's.
CHECKS = {
    "direction": lambda r: r["direction"] == r["want_direction"],
    "colour": lambda r: r["colour"] == r["want_colour"],
    "visible": lambda r: bool(r["visible_every_frame"]),
    "shape": lambda r: r["shape_kept"] >= SHAPE_KEPT,
    "clean": lambda r: r["strict"]["clean"],
    "clean_pixels": lambda r: r["strict"]["clean_pixels"],  # every strict check but identity
    "identity": lambda r: bool(r["strict"]["identity_ok"]),
    "one_object": lambda r: r["strict"]["one_object"],
    "no_ghost": lambda r: not r["strict"]["ghost"],
    "no_marks": lambda r: r["strict"].get("no_marks") is not False,  # (digits, and records older than it: not judged)
    "same_shape": lambda r: r["strict"]["same_shape"],
    "same_background": lambda r: r["strict"]["same_background"],
    "strict_direction": lambda r: bool(r["strict"]["direction_ok"]),
    "steady_path": lambda r: r["strict"].get("steady_path", True),  # (records older than it: not judged)
}
LENIENT = ("direction", "colour", "visible", "shape")


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value for ``only_a`` and ``only_b`` discordant pairs."""
    from scipy.stats import binomtest

    return 1.0 if only_a + only_b == 0 else float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def read_records(path: str | Path, split: str = "train") -> list[dict]:
    """The per-clip records of one split of a ``dsdn eval toy --json`` file, or of a ``dsdn eval sweep --json``
    file that tried one setting (its selection prompts stand for the ``train`` split); a one-line error otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DSDNInputError(f"{str(path)!r} is not a readable 'dsdn eval toy --json' file ({e}).") from None
    if isinstance(data, dict) and isinstance(data.get("results"), list) and split == "train":  # a sweep's file
        if len(data["results"]) != 1:
            raise DSDNInputError(f"{str(path)!r} is a sweep of {len(data['results'])} settings: compare sweeps "
                                 "of one setting each.")  # fmt: skip
        return data["results"][0]["records"]
    if not isinstance(data, dict) or not isinstance(data.get(split), dict) or "records" not in data[split]:
        found = ", ".join(k for k in data if k != "sampling") if isinstance(data, dict) else "no splits"
        raise DSDNInputError(f"{str(path)!r} has no {split!r} results (it has: {found}).")
    return data[split]["records"]


def compare_records(a: list[dict], b: list[dict], checks=("clean",), common: bool = False) -> dict:
    """The paired comparison of two lists of records, one entry per check: ``{"clips", "a": (rate, low,
    high), "b": ..., "only_a", "only_b", "p"}``. With ``common``, only the clips (prompt, seed) both judged."""
    from .benchmark import interval

    if common:
        both = {(r["prompt"], r["seed"]) for r in a} & {(r["prompt"], r["seed"]) for r in b}
        a, b = ([r for r in rs if (r["prompt"], r["seed"]) in both] for rs in (a, b))
        if not a:
            raise DSDNInputError("the two files judged no clip in common (prompt and seed).")
    if [(r["prompt"], r["seed"]) for r in a] != [(r["prompt"], r["seed"]) for r in b]:
        raise DSDNInputError(
            "the two files judged different prompts or seeds: run both with the same --prompts and --seed, "
            "or pass --common."
        )
    out = {}
    for name in checks:
        if name not in CHECKS:
            raise DSDNInputError(f"check={name!r} is invalid: must be one of {', '.join(CHECKS)}")
        if name not in LENIENT and not all("strict" in r for r in a + b):
            raise DSDNInputError(f"the check {name!r} needs the strict judge's records: rerun dsdn eval toy.")
        ok_a, ok_b = [bool(CHECKS[name](r)) for r in a], [bool(CHECKS[name](r)) for r in b]
        only_a = sum(x and not y for x, y in zip(ok_a, ok_b))
        only_b = sum(y and not x for x, y in zip(ok_a, ok_b))
        out[name] = {"clips": len(a), "a": interval(ok_a, binary=True), "b": interval(ok_b, binary=True),
                     "only_a": only_a, "only_b": only_b, "p": mcnemar_exact(only_a, only_b)}  # fmt: skip
    return out


def format_comparison(result: dict) -> str:
    """A plain table of :func:`compare_records`'s result, one row per check."""

    def rate(r):
        return f"{100 * r[0]:5.1f}% [{100 * r[1]:.1f}, {100 * r[2]:.1f}]"

    lines = [f"{'check':<17} {'A':<21} {'B':<21} {'only A':>6} {'only B':>6} {'McNemar p':>9}"]
    for name, c in result.items():
        lines.append(
            f"{name:<17} {rate(c['a']):<21} {rate(c['b']):<21} {c['only_a']:>6} {c['only_b']:>6} {c['p']:>9.3f}"
        )
    clips = next(iter(result.values()))["clips"] if result else 0
    lines.append(f"{clips} clips, paired by prompt and seed; rates with 95% Wilson intervals; exact McNemar test.")
    return "\n".join(lines)
