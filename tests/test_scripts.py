import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_caption_gap_script_prints_a_row_per_direction_and_timestep():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "caption_gap.py"), "--clips", "1", "--timesteps", "500,900"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()[1:]
    apart = [line for line in lines if "text states" in line]
    assert len(apart) == 4 and all(0 < float(line.split()[-4]) < 10 for line in apart)
    rows = [line.split() for line in lines if "text states" not in line]
    assert [(r[0], r[1]) for r in rows] == [(d, t) for d in ("up", "down", "left", "right") for t in ("500", "900")]
    for r in rows:  # own / opposite / empty errors are positive numbers, and the gap is their ratio
        own, opposite, empty = (float(x) for x in (r[2], r[4], r[6]))
        assert own > 0 and opposite > 0 and empty > 0
        assert abs(float(r[7].rstrip("%")) - 100 * (opposite / own - 1)) < 1.0
