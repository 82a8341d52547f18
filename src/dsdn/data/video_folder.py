"""Captioned clips from a folder of real videos (mp4/webm/...), WebVid style.

Captions come from a CSV or JSONL file with one row per clip; the column names are
configurable (WebVid's are ``videoid`` and ``name``). Frames are taken ``frame_stride`` apart,
resized so the shorter side is ``size`` and centre-cropped to ``size × size``.

A clip that cannot be decoded, has too few frames or is missing is **skipped**: a warning is
logged once per clip, it is counted in :attr:`VideoFolder.skipped`, and :meth:`VideoFolder.get`
returns ``None`` for it. :func:`next_readable` looks for the next readable clip and gives up
with an error after one pass over the dataset, so a folder of bad files never loops forever.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from ..errors import DSDNInputError

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif")


def _read_rows(path: Path) -> list[dict]:
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DSDNInputError(f"{path}:{n}: not valid JSON ({e.msg}); each line must be one object.") from None
        return rows
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    raise DSDNInputError(f"captions={str(path)!r} is invalid: must be a .csv or .jsonl file.")


def _fit(frame: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (bicubic) and centre-crop to ``size × size``."""
    from PIL import Image

    h, w = frame.shape[:2]
    s = size / min(h, w)
    img = Image.fromarray(frame).resize((max(size, round(w * s)), max(size, round(h * s))), Image.BICUBIC)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)))


def decode_frames(path: Path, num_frames: int, stride: int, start: int = 0) -> np.ndarray:
    """Frames ``start, start+stride, ...`` (``num_frames`` of them) as uint8 ``(F, H, W, 3)``.

    Raises ``ValueError`` when the file has fewer frames; decoding errors propagate.
    """
    import av

    wanted = set(range(start, start + stride * num_frames, stride))
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                out.append(frame.to_ndarray(format="rgb24"))
                if len(out) == num_frames:
                    break
    if len(out) < num_frames:
        raise ValueError(f"has {len(out)} usable frames, needs {num_frames} (stride {stride})")
    return np.stack(out)


class VideoFolder:
    """A dataset of captioned video clips; items match :class:`~dsdn.data.ToyWorld`'s (``video``, ``caption``).

    Args:
        root: folder holding the videos.
        captions: CSV or JSONL file (default: ``root/captions.csv`` or ``root/captions.jsonl``).
        video_column: column with the video file name, relative to ``root`` (a missing
            suffix is looked up among common video suffixes).
        caption_column: column with the caption.
        num_frames: frames per clip.
        frame_stride: take every ``frame_stride``-th frame.
        size: output height and width.
    """

    def __init__(
        self,
        root: str | Path,
        captions: str | Path | None = None,
        video_column: str = "video",
        caption_column: str = "caption",
        num_frames: int = 8,
        frame_stride: int = 1,
        size: int = 64,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DSDNInputError(f"data={str(root)!r} is not a folder of videos.")
        if captions is None:
            found = [self.root / n for n in ("captions.csv", "captions.jsonl") if (self.root / n).is_file()]
            if not found:
                raise DSDNInputError(f"{root}: no captions.csv or captions.jsonl; pass the captions file explicitly.")
            captions = found[0]
        rows = _read_rows(Path(captions))
        if not rows:
            raise DSDNInputError(f"captions={str(captions)!r} has no rows.")
        for col in (video_column, caption_column):
            if col not in rows[0]:
                raise DSDNInputError(
                    f"captions file has no column {col!r}: its columns are {sorted(rows[0])}. "
                    "Set the video/caption column options."
                )
        self.items = [(str(r[video_column]), str(r[caption_column])) for r in rows]
        self.num_frames, self.frame_stride, self.size = num_frames, frame_stride, size
        self.skipped = 0
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.items)

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("points outside the data folder")
        if path.suffix.lower() in VIDEO_SUFFIXES or path.exists():
            return path
        for suffix in VIDEO_SUFFIXES:
            if path.with_suffix(suffix).exists():
                return path.with_suffix(suffix)
        return path

    def get(self, index: int) -> dict | None:
        """Item ``index``, or ``None`` (logged once and counted) when the clip is unreadable."""
        if index in self._bad:
            return None
        name, caption = self.items[index]
        try:
            frames = decode_frames(self._path(name), self.num_frames, self.frame_stride)
            video = np.stack([_fit(f, self.size) for f in frames])
        except Exception as e:  # any decoder failure: skip the clip, never the run
            self._bad.add(index)
            self.skipped += 1
            logger.warning("skipping clip %d (%s): %s: %s", index, name, type(e).__name__, e)
            return None
        return {"video": video, "caption": caption}

    def __getitem__(self, index: int) -> dict:
        item = self.get(index)
        if item is None:
            raise ValueError(f"clip {index} ({self.items[index][0]}) is unreadable")
        return item


def next_readable(dataset, index: int) -> dict:
    """The first readable item at or after ``index`` (cyclically); an error after a full pass."""
    get = getattr(dataset, "get", dataset.__getitem__)
    n = len(dataset)
    for k in range(n):
        item = get((index + k) % n)
        if item is not None:
            return item
    raise DSDNInputError(f"none of the {n} clips could be read: check the video files and the captions file.")
