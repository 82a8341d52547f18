"""The strict judge on real toy-world clips: every object × colour × motion × speed × background, ``--seeds`` each.

    python research/judge_real_clips.py [--seeds 2] [--mp4]

A trusted judge passes (nearly) every real clip. Prints the clean rate, how many clips fail each check, and the
failing clips. ``--mp4`` judges each clip after an H.264 round trip, as written by ``dsdn generate``.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from collections import Counter
from pathlib import Path


def main() -> None:
    from dsdn.data.toy_world import BACKGROUNDS, COLOURS, MOTIONS, OBJECTS, SPEEDS, ClipSpec, object_scale, render_clip
    from dsdn.evaluation.clean import judge_strict
    from dsdn.video_io import read_video, save_video

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--mp4", action="store_true", help="judge the clips after an H.264 round trip")
    ap.add_argument("--limit", type=int, default=None, help="judge only the first LIMIT clips")
    ap.add_argument("--toy-world", default="v1", help="toy-world version (v3: larger objects)")
    args = ap.parse_args()
    failed, bad, n = Counter(), [], 0
    with tempfile.TemporaryDirectory() as tmp:
        combos = itertools.product(OBJECTS, COLOURS, MOTIONS, SPEEDS, BACKGROUNDS, range(args.seeds))
        for k, (o, c, m, speed, bg, seed) in enumerate(combos):
            if args.limit is not None and k >= args.limit:
                break
            video = render_clip(ClipSpec(o, c, m, speed, bg, seed=1000 * k + seed, version=args.toy_world))
            if args.mp4:
                video = read_video(save_video(video, Path(tmp) / "clip.mp4", fps=8))
            j = judge_strict(video, c, m, object_scale=object_scale(args.toy_world), obj=o)
            n += 1
            if not j.clean:
                names = j.failed_checks()
                failed.update(names)
                bad.append(f"{c} {o} {m} {speed} {bg}: {', '.join(names)}")
    print(
        f"real clips={n}  clean={100 * (n - len(bad)) / n:.1f}%  failing checks: "
        + (", ".join(f"{k} {v}" for k, v in failed.most_common()) or "none")
    )
    for line in bad:
        print("  " + line)


if __name__ == "__main__":
    main()
