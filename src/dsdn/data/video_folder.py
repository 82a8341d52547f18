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


def check_captions_file(path: str | Path) -> Path:
    """A captions file that exists and is a ``.csv`` or ``.jsonl`` file (checked before any work)."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in (".csv", ".jsonl"):
        raise DSDNInputError(f"captions={str(path)!r} is invalid: must be a .csv or .jsonl file.")
    if not path.is_file():
        raise DSDNInputError(f"captions={str(path)!r} is invalid: {'a folder' if path.is_dir() else 'no such file'}; "
                             "give a .csv or .jsonl file.")  # fmt: skip
    return path


def _read_rows(path: Path) -> list[dict]:
    path = check_captions_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DSDNInputError(f"captions={str(path)!r} is not UTF-8 text ({e.reason} at byte {e.start}): save it as "
                             "UTF-8 (e.g. iconv -f latin1 -t utf-8).") from None  # fmt: skip
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(text.splitlines()))
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DSDNInputError(f"{path}:{n}: not valid JSON ({e.msg}); each line must be one object.") from None
            if not isinstance(row, dict):
                raise DSDNInputError(f"{path}:{n}: a JSON {type(row).__name__}, not an object; each line must be one "
                                     'object, e.g. {"video": "a.mp4", "caption": "..."}.')  # fmt: skip
            rows.append(row)
    return rows


def read_captions(root: str | Path, captions: str | Path | None = None) -> tuple[Path, list[dict]]:
    """The captions file of a video folder (``captions`` or ``root/captions.csv|jsonl``) and its rows."""
    if captions is None:
        found = [Path(root) / n for n in ("captions.csv", "captions.jsonl") if (Path(root) / n).is_file()]
        if not found:
            raise DSDNInputError(f"{root}: no captions.csv or captions.jsonl; pass the captions file explicitly.")
        captions = found[0]
    return Path(captions), _read_rows(Path(captions))


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
        captions, rows = read_captions(root, captions)
        if not rows:
            raise DSDNInputError(f"captions={str(captions)!r} has no rows.")
        for col in (video_column, caption_column):
            if col not in rows[0]:
                raise DSDNInputError(
                    f"captions file has no column {col!r}: its columns are {sorted(rows[0])}. "
                    "Set the video/caption column options."
                )

        def text(value) -> str | None:
            return value.strip() if isinstance(value, str) and value.strip() else None

        self.items = [(text(r.get(video_column)), text(r.get(caption_column))) for r in rows]
        blank = sum(1 for v, c in self.items if v is None or c is None)
        self.items = [(v, c) for v, c in self.items if v is not None and c is not None]
        if blank:  # never trained on as the text "None" or ""
            logger.warning("%s: skipped %d row(s) without a video or a caption", captions, blank)
        if not self.items:
            raise DSDNInputError(f"captions={str(captions)!r}: no row has both a video and a caption.")
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
