"""Writing generated videos: mp4 (H.264 via PyAV), gif, webp, or a folder of png frames, plus a
JSON sidecar with the prompt, seed, every setting and the package versions.

Files are written to a temporary name in the target folder and renamed into place, so an
interrupted write never leaves a half-written video under the requested name.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DSDNInputError, check_int
from .paths import writable_parent

VIDEO_FORMATS = (".mp4", ".gif", ".webp")

#: Highest frame rate written: GIF and WebP store frame delays in whole 1/100 s or 1/1000 s, and
#: players clamp short delays, so faster rates would not play as asked.
MAX_FPS = 240


def to_uint8(frames) -> np.ndarray:
    """``(F, H, W, 3)`` floats in [0, 1] (or uint8) -> uint8 ``(F, H, W, 3)``."""
    arr = np.asarray(frames)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected frames (F, H, W, 3), got {arr.shape}")
    return arr


def _write_mp4(path: Path, frames: np.ndarray, fps: int, crf: int = 18) -> None:
    import av

    h, w = frames.shape[1:3]
    # yuv420p needs even sizes; pad by edge replication rather than silently resizing.
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _write_animated(path: Path, frames: np.ndarray, fps: int, fmt: str) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    extra = {"lossless": True} if fmt == "WEBP" else {}
    images[0].save(
        path, format=fmt, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, **extra
    )


def _write_pngs(folder: Path, frames: np.ndarray) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"frame_{i:04d}.png")


def _is_frame_folder(path: Path) -> bool:
    """A folder that holds ``frame_XXXX.png`` files and nothing else: one that :func:`save_video` wrote (an
    empty folder may be a user's, made for something else, so it is not one)."""
    entries = list(path.iterdir())
    return bool(entries) and all(p.is_file() and p.name.startswith("frame_") and p.suffix == ".png" for p in entries)


def check_output_path(path: str | Path, overwrite: bool = True) -> Path:
    """Validate where a video will go, before any work is done; raises a one-line :class:`DSDNInputError`.

    Refused: an unsupported suffix; replacing a folder that is not a png-frame folder written by
    dsdn (a user's folder is never deleted); a file where a frame folder would go, or a folder where a
    file would go; a parent that cannot be created or written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.name.lower() in VIDEO_FORMATS:  # ".mp4" has no suffix to Python: it would become a png folder
        raise DSDNInputError(f"out={str(path)!r} has no name before its suffix: give one, e.g. clip{path.name}.")
    if suffix and suffix not in VIDEO_FORMATS:
        raise DSDNInputError(
            f"out={str(path)!r} has an unsupported suffix: use {', '.join(VIDEO_FORMATS)} or no suffix for png frames."
        )
    if path.exists() and not overwrite:
        raise DSDNInputError(f"out={str(path)!r} exists: choose another name or allow overwriting.")
    if path.is_dir() and (suffix or not _is_frame_folder(path)):
        raise DSDNInputError(
            f"out={str(path)!r} is an existing folder that dsdn did not write: it is never replaced. Choose a new "
            "name (e.g. out.mp4)."
        )
    if not suffix and path.exists() and not path.is_dir():
        raise DSDNInputError(f"out={str(path)!r} is an existing file: a name without suffix is a folder of png frames.")
    writable_parent("out", path)
    return path


def _process_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: leave it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(path: Path) -> list[str]:
    """Remove the staging folders of earlier writes of ``path`` whose process is gone (killed mid-write);
    returns their names. A write still running in another process is left alone."""
    import re

    pattern = re.compile(rf"\.{re.escape(path.name)}\.dsdn-(\d+)-\w+")
    stale = [p for p in path.parent.iterdir() if p.is_dir() and (m := pattern.fullmatch(p.name))
             and not _process_alive(int(m.group(1)))]  # fmt: skip
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in stale]


def save_video(frames, path: str | Path, fps: int = 8, overwrite: bool = True) -> Path:
    """Write one video ``(F, H, W, 3)``. The format follows the suffix: ``.mp4``, ``.gif``,
    ``.webp``; a path with no suffix is a folder of ``frame_XXXX.png``. Returns the path."""
    path = check_output_path(path, overwrite)
    suffix = path.suffix.lower()
    check_int("fps", fps, 1, MAX_FPS)
    frames = to_uint8(frames)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_staging(path)
        # Write next to the target, then rename: readers never see a partial file.
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.dsdn-{os.getpid()}-", dir=path.parent))
    except OSError as e:
        raise DSDNInputError(f"out={str(path)!r} cannot be written ({e.strerror or e}).") from None
    try:
        staged = tmp / ("video" + suffix)
        if suffix == ".mp4":
            _write_mp4(staged, frames, fps)
        elif suffix in (".gif", ".webp"):
            _write_animated(staged, frames, fps, suffix[1:].upper())
        else:
            _write_pngs(staged, frames)
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(staged, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a video file to uint8 ``(F, H, W, 3)`` with PyAV (only its first ``max_frames`` frames, if given)."""
    import itertools

    import av

    with av.open(str(path)) as container:
        frames = itertools.islice(container.decode(video=0), max_frames)
        return np.stack([f.to_ndarray(format="rgb24") for f in frames])


def package_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("dsdn", "torch", "diffusers", "transformers", "peft", "accelerate", "av"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def sidecar_path(video_path: str | Path) -> Path:
    p = Path(video_path)
    return p.with_name(p.name + ".json") if not p.suffix else p.with_suffix(".json")


def check_sidecar_path(video_path: str | Path) -> Path:
    """Where the sidecar of ``video_path`` goes, refused (one-line :class:`DSDNInputError`) when something there
    was not written by dsdn: a folder, or a file that is not the sidecar of a video of this name."""
    path = sidecar_path(video_path)
    if path.is_dir():
        raise DSDNInputError(f"the settings sidecar {str(path)!r} would replace a folder: choose another --out.")
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            data = None
        if not (isinstance(data, dict) and isinstance(data.get("video"), str) and "versions" in data):
            raise DSDNInputError(
                f"the settings sidecar {str(path)!r} would replace a file that dsdn did not write: move it, or choose "
                "another --out."
            )
        if data["video"] != Path(video_path).name:
            raise DSDNInputError(
                f"the settings sidecar {str(path)!r} holds the settings of {data['video']!r}: choose another --out, "
                "so that they are kept."
            )
    return path


def write_sidecar(video_path: str | Path, settings: dict[str, Any]) -> Path:
    """Write ``<video>.json`` with ``settings`` and the package versions (atomically); never replaces a file
    that is not an earlier sidecar of the same video (:func:`check_sidecar_path`)."""
    path = check_sidecar_path(video_path)
    data = {"video": Path(video_path).name, **settings, "versions": package_versions()}
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
