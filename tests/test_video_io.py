import json

import numpy as np
import pytest

from dsdn import DSDNInputError
from dsdn.video_io import read_video, save_video, sidecar_path, write_sidecar


def _moving_square(f=6, h=32, w=48):
    v = np.zeros((f, h, w, 3), dtype=np.float32)
    for i in range(f):
        v[i, 8:16, 4 + 3 * i : 12 + 3 * i] = [1.0, 0.2, 0.2]
    return v


def test_mp4_is_h264_and_reads_back(tmp_path):
    import av

    v = _moving_square()
    path = save_video(v, tmp_path / "a.mp4", fps=8)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    back = read_video(path)
    assert back.shape == (6, 32, 48, 3)
    assert np.abs(back.astype(float) - v * 255).mean() < 8  # lossy, but close
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]  # no temp files left


def test_odd_sizes_are_padded_for_yuv420(tmp_path):
    back = read_video(save_video(_moving_square(h=15, w=17), tmp_path / "odd.mp4"))
    assert back.shape[1:3] == (16, 18)


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animated_images(tmp_path, suffix):
    from PIL import Image

    path = save_video(_moving_square(), tmp_path / f"a{suffix}")
    with Image.open(path) as im:
        assert im.n_frames == 6 and im.size == (48, 32)


def test_png_frames_folder(tmp_path):
    path = save_video(_moving_square(), tmp_path / "frames")
    assert sorted(p.name for p in path.iterdir()) == [f"frame_{i:04d}.png" for i in range(6)]
    assert sidecar_path(path).name == "frames.json"


def test_bad_suffix_and_fps(tmp_path):
    with pytest.raises(DSDNInputError, match="out="):
        save_video(_moving_square(), tmp_path / "a.avi")
    with pytest.raises(DSDNInputError, match="fps="):
        save_video(_moving_square(), tmp_path / "a.mp4", fps=0)
    assert list(tmp_path.iterdir()) == []


def test_sidecar_records_settings_and_versions(tmp_path):
    p = write_sidecar(tmp_path / "v.mp4", {"prompt": "a red ball", "seed": 3})
    data = json.loads(p.read_text())
    assert p.name == "v.json" and data["prompt"] == "a red ball" and data["seed"] == 3
    assert {"dsdn", "torch", "diffusers"} <= set(data["versions"])


def test_a_sidecar_replaces_only_an_earlier_sidecar_of_the_same_video(tmp_path):
    first = write_sidecar(tmp_path / "v.mp4", {"seed": 1})
    assert json.loads(write_sidecar(tmp_path / "v.mp4", {"seed": 2}).read_text())["seed"] == 2  # a rerun
    for content in (b'{"my": "notes"}', b"\xff\xfe not text", b"[]"):
        first.write_bytes(content)
        with pytest.raises(DSDNInputError, match="did not write"):
            write_sidecar(tmp_path / "v.mp4", {"seed": 3})
        assert first.read_bytes() == content
    (tmp_path / "w.json").write_text(json.dumps({"video": "w.gif", "versions": {}}))  # another video's
    with pytest.raises(DSDNInputError, match="holds the settings of 'w.gif'"):
        write_sidecar(tmp_path / "w.mp4", {})


def test_the_next_write_removes_staging_folders_of_killed_writes(tmp_path):
    import os
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".v.mp4.dsdn-{gone.stdout.strip()}-abc123"  # a write killed mid-way (its process is gone)
    stale.mkdir()
    (stale / "video.mp4").write_bytes(b"half a video")
    running = tmp_path / f".v.mp4.dsdn-{os.getpid()}-def456"  # a write still running: left alone
    running.mkdir()
    other = tmp_path / f".w.mp4.dsdn-{gone.stdout.strip()}-abc123"  # another video's: left for its next write
    other.mkdir()
    save_video(np.zeros((2, 16, 16, 3), np.uint8), tmp_path / "v.mp4")
    assert not stale.exists() and running.is_dir() and other.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, other.name, "v.mp4"])
