"""The strict toy-world judge: is a clip what a person would accept for its prompt?

A person shown "a red circle moving right" accepts a clip when it shows **one** red object,
**nothing else** (no second object of another colour, no dark object-shaped hole), the object
keeps its **size and outline** from frame to frame, it **moves the asked way**, and it **is** a
circle. Each of these is a check on the frames' pixels, made per frame; *clean* is all of them
together. The lenient checks of :mod:`dsdn.evaluation.toy` (mean flow over every bright pixel,
mean colour) pass clips that show a ghost, a split or a swelling object; these do not.

How the pixels are read (64×64 toy-world frames; other sizes are scaled):

* **object colours**: a pixel belongs to a toy-world colour when it is within
  :data:`COLOUR_RADIUS` (RGB distance) of it and nearer to it than to any other. Backgrounds
  (every channel ≤ 90) are never that close to an object colour; a soft digit edge half blended
  into the background is not either, so edges are simply not counted.
* **blobs**: 8-connected components of a colour's pixels after a dilation by
  :data:`JOIN_PIXELS` (the strokes of one digit join; two objects a few pixels apart do not).
  A blob smaller than :data:`MIN_BLOB` pixels is speckle and ignored.
* **one object**: in every frame the asked colour has exactly one blob, holding nearly all of its
  pixels, and it is visible (:data:`MIN_OBJECT` pixels or more).
* **ghost**: in some frame another object colour has a blob of at least :data:`GHOST_FRACTION` of
  the asked object's area, or a *dark hole* does: a blob of pixels darker than any toy-world
  background (max channel ≤ :data:`DARK_LEVEL`), which is how the VAE draws a negative white
  object.
* **same size and outline**: every frame's object area is within ``[1/SIZE_RATIO, SIZE_RATIO]``
  of the median over frames, and its mask overlaps frame 1's, at the best integer shift, with
  IoU ≥ :data:`OUTLINE_IOU` (objects in the toy world only translate).
* **same background**: toy-world backgrounds never change; between consecutive frames, the
  pixels away from every object (and hole) change by at most :data:`BACKGROUND_CHANGE` levels on
  average (a plain background turning textured, or a texture re-drawn, fails).
* **direction**: the object's centroid moves the asked way from the first frame to the last by at
  least :data:`MIN_TRAVEL` pixels per frame on average, more along the asked axis than across
  it, and in at least :data:`MONOTONE` of the frame steps (an object that jumps back and forth
  fails).
* **steady path**: the object stays on its line and keeps its pace, as every real clip does. Its centroid strays
  across the asked axis (for bouncing, sideways) by at most :data:`PATH_DRIFT` of its side from where it starts,
  and no frame step is more than :data:`PATH_JUMP` pixels away from the clip's median step (an object that
  jumps, or whose outline grows a limb that drags it off its line, fails). Real clips stray at most 1.4 pixels and
  jump at most 2 after the VAE's round trip.
* **colour**: the asked colour owns most object-coloured pixels of the clip.
* **no marks** (solid shapes only: circle, square, triangle): inside the object's outline (holes filled,
  :data:`MARK_INSET` pixels in from its edge) no frame has a blob of :data:`MIN_BLOB` or more bright pixels
  (brightest channel ≥ :data:`EDGE_LEVEL`) that are not the asked colour, nor a share above
  :data:`MARK_SHARE` of such pixels: a shape drawn with another colour's shading or a second figure inside
  it. Real clips, as rendered and after the VAE's round trip, have none. A digit's strokes are too thin to
  have an inside, so digits are not judged.
* **identity** (with a :class:`~dsdn.evaluation.judge.ToyJudge`): the classifier names the asked
  object; without one it is not judged and *clean* does not include it.

Bouncing prompts are judged for all but direction (an 8-frame bounce has no single direction).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..data.toy_world import COLOURS
from .metrics import as_uint8

COLOUR_RADIUS = 90.0  # RGB distance; the closest two object colours are ~175 apart
EDGE_RADIUS = 130.0  # a bright pixel this near its nearest object colour is an edge of that colour's object
EDGE_LEVEL = 110  # ... when its brightest channel reaches this (every background channel is <= 90)
MIN_BLOB = 6  # pixels (at 64×64): smaller components are speckle
JOIN_PIXELS = 2  # dilation that joins the strokes of one digit
ONE_SHARE = 0.9  # the object's blob holds at least this share of its colour's pixels in a frame
MIN_OBJECT = 12  # pixels: the object is visible in a frame
GHOST_FRACTION = 0.25  # a blob of another colour (or a dark hole) this large, relative to the object, is a ghost
DARK_LEVEL = 6  # max channel at or below this is darker than every toy-world background (plain 24, texture >= 10)
SIZE_RATIO = 2.0
BACKGROUND_CHANGE = 12.0  # mean absolute change (0-255, brightest channel) of the background between frames
OUTLINE_IOU = 0.5
MIN_TRAVEL = 1.0  # pixels per frame, first to last: half the toy world's slow speed (2; real slow clips travel >= 1.9)
MONOTONE = 0.7  # share of frame steps along the asked way
PATH_DRIFT = 0.25  # share of the object's side it may stray across its line
V1_SIDE = 16.0  # pixels at 64×64: an object's side in toy world v1 (times the world's object scale in others)
PATH_JUMP = 6.0  # pixels (at 64×64): 1.5 × the toy world's fast step, 3 × the largest step jitter of real clips
MARK_INSET = 2  # pixels in from a solid shape's edge where its inside starts
MARK_SHARE = 0.05  # largest share of a solid shape's inside that may be bright pixels of another colour
SOLID_OBJECTS = ("circle", "square", "triangle")

_NAMES = tuple(COLOURS)
_REF = np.asarray([COLOURS[n] for n in _NAMES], np.float32)
_AXES = {"right": (1, 1.0), "left": (1, -1.0), "down": (0, 1.0), "up": (0, -1.0)}  # (axis of (y, x), sign)


@dataclass
class StrictJudgement:
    """What the strict judge sees in one clip; :attr:`clean` is the verdict."""

    colour_ok: bool
    one_object: bool
    ghost: bool
    size_stable: bool
    outline_iou: float
    background_change: float
    direction_ok: bool | None  # None: the motion has no single direction (bouncing)
    identity_ok: bool | None  # None: no classifier was given
    travel: float  # pixels the object's centroid moved along the asked axis (signed, asked way > 0)
    marks: float | None = (
        None  # largest share over frames of a solid shape's inside in another colour; None: not judged
    )
    mark_blob: int = 0  # pixels of the largest such blob in any frame
    path_drift: float = 0.0  # farthest the object's centroid strays across its line, as a share of the object's side
    path_jump: float = 0.0  # pixels (at 64×64): the frame step farthest from the clip's median step

    @property
    def steady_path(self) -> bool:
        return self.path_drift <= PATH_DRIFT and self.path_jump <= PATH_JUMP

    @property
    def no_marks(self) -> bool | None:
        if self.marks is None:
            return None
        return self.marks <= MARK_SHARE and self.mark_blob < MIN_BLOB

    @property
    def same_shape(self) -> bool:
        return self.size_stable and self.outline_iou >= OUTLINE_IOU

    @property
    def same_background(self) -> bool:
        return self.background_change <= BACKGROUND_CHANGE

    @property
    def clean_pixels(self) -> bool:
        """Every check but identity (which needs a classifier)."""
        checks = [self.colour_ok, self.one_object, not self.ghost, self.same_shape, self.same_background,
                  self.steady_path]  # fmt: skip
        return all(checks) and self.direction_ok is not False and self.no_marks is not False

    @property
    def clean(self) -> bool:
        return self.clean_pixels and self.identity_ok is not False

    def failed_checks(self) -> list[str]:
        """Names of the checks this clip fails (empty when it is clean)."""
        checks = (
            ("colour", self.colour_ok),
            ("one object", self.one_object),
            ("ghost", not self.ghost),
            ("marks", self.no_marks is not False),
            ("same shape", self.same_shape),
            ("background", self.same_background),
            ("direction", self.direction_ok is not False),
            ("path", self.steady_path),
            ("identity", self.identity_ok is not False),
        )
        return [name for name, ok in checks if not ok]  # fmt: skip

    def as_record(self) -> dict:
        return {**asdict(self), "same_shape": self.same_shape, "same_background": self.same_background,
                "no_marks": self.no_marks, "steady_path": self.steady_path, "clean_pixels": self.clean_pixels,
                "clean": self.clean}  # fmt: skip


def colour_labels(frames: np.ndarray, edges: bool = False) -> np.ndarray:
    """``(F, H, W)`` int8: index into the toy-world colours of each pixel's object colour, -1 for none.

    With ``edges``, also the fainter pixels of an object's soft edge (a digit's strokes blend into the
    background): these join an object's parts, but never count as a ghost."""
    px = as_uint8(frames).astype(np.float32)
    dist = np.sqrt(((px[..., None, :] - _REF) ** 2).sum(-1))  # (F, H, W, 5)
    nearest = dist.argmin(-1)
    near = np.take_along_axis(dist, nearest[..., None], -1)[..., 0]
    keep = near <= COLOUR_RADIUS
    if edges:
        keep |= (near <= EDGE_RADIUS) & (px.max(-1) >= EDGE_LEVEL)
    return np.where(keep, nearest, -1).astype(np.int8)


def _blobs(mask: np.ndarray, scale: float, join_scale: float = 1.0) -> list[np.ndarray]:
    """Masks of the significant blobs of one frame's ``mask``, largest first (parts nearer than the join
    distance, :data:`JOIN_PIXELS` × ``scale`` × ``join_scale``, are one blob)."""
    from scipy import ndimage

    join = max(1, round(JOIN_PIXELS * scale * join_scale))
    grown = ndimage.binary_dilation(mask, structure=np.ones((3, 3), bool), iterations=join)
    labels, n = ndimage.label(grown, structure=np.ones((3, 3), bool))
    blobs = [mask & (labels == k) for k in range(1, n + 1)]
    blobs = [b for b in blobs if b.sum() >= MIN_BLOB * scale**2]
    return sorted(blobs, key=lambda b: -int(b.sum()))


def _background_change(frames: np.ndarray, busy: np.ndarray) -> float:
    """Largest over consecutive frame pairs of the mean absolute change of the pixels that are background
    (not ``busy``, i.e. away from objects and holes) in both frames; 0 when no pixel is."""
    from scipy import ndimage

    frames = frames.astype(np.int16)
    worst = 0.0
    for f in range(len(frames) - 1):
        away = ~ndimage.binary_dilation(busy[f] | busy[f + 1], structure=np.ones((3, 3), bool), iterations=2)
        if away.any():
            change = np.abs(frames[f + 1] - frames[f]).max(axis=-1)[away]
            worst = max(worst, float(change.mean()))
    return worst


def _best_shift_iou(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.signal import fftconvolve

    if not a.any() or not b.any():
        return 0.0
    overlap = np.rint(fftconvolve(b.astype(np.float32), a[::-1, ::-1].astype(np.float32), mode="full"))
    return float((overlap / (a.sum() + b.sum() - overlap)).max())


def _inside_marks(
    frame: np.ndarray, labels: np.ndarray, want: int, body: np.ndarray, scale: float
) -> tuple[float, int]:
    """``(share, blob)``: the share of a solid object's inside (``body`` with its holes filled, :data:`MARK_INSET`
    pixels in from its edge) that is bright but not the asked colour, and the largest such blob in pixels at 64×64."""
    from scipy import ndimage

    inset = max(1, round(MARK_INSET * scale))
    inside = ndimage.binary_erosion(ndimage.binary_fill_holes(body), structure=np.ones((3, 3), bool), iterations=inset)
    if not inside.any():
        return 0.0, 0
    foreign = inside & (frame.max(axis=-1) >= EDGE_LEVEL) & (labels != want)
    parts, count = ndimage.label(foreign, structure=np.ones((3, 3), bool))
    largest = int(np.bincount(parts.ravel())[1:].max()) if count else 0
    return float(foreign.sum()) / float(inside.sum()), round(largest / scale**2)


def judge_strict(frames: np.ndarray, colour: str, motion: str, identity_ok: bool | None = None,
                 object_scale: float = 1.0, obj: str | None = None) -> StrictJudgement:  # fmt: skip
    """Judge ``frames`` (``(F, H, W, 3)``, uint8 or [0, 1]) against the asked ``colour`` and ``motion``; the inside of
    a solid ``obj`` (a shape of :data:`SOLID_OBJECTS`) is judged for marks when it is given.

    ``identity_ok`` is the classifier's verdict on the object, if one was run (see :func:`judge_prompt`).
    ``object_scale``: the world's object size relative to toy world v1's
    (:func:`~dsdn.data.toy_world.object_scale`); a digit's strokes are that much farther apart, so the
    distance that joins them grows with it."""
    frames = as_uint8(frames)
    n, h, w = frames.shape[:3]
    scale = h / 64.0
    want = _NAMES.index(colour)
    labels = colour_labels(frames)
    with_edges = colour_labels(frames, edges=True)
    dark = frames.max(axis=-1) <= DARK_LEVEL

    coloured = labels >= 0
    colour_ok = bool(coloured.any()) and int((labels == want).sum()) * 2 > int(coloured.sum())

    one, ghost = True, False
    objects, areas, marks = [], [], []
    for f in range(n):
        mine = labels[f] == want
        joined = _blobs(mine | (with_edges[f] == want), scale, object_scale)  # edges join
        blobs = [b & mine for b in joined]
        blobs = sorted((b for b in blobs if b.sum() >= MIN_BLOB * scale**2), key=lambda b: -int(b.sum()))
        total = int(mine.sum())
        main = blobs[0] if blobs else np.zeros_like(mine)
        area = int(main.sum())
        if len(blobs) != 1 or area < MIN_OBJECT * scale**2 or area < ONE_SHARE * total:
            one = False
        objects.append(main)
        areas.append(area)
        if obj in SOLID_OBJECTS and area > 0:
            body = max(joined, key=lambda b: int((b & main).sum()))
            marks.append(_inside_marks(frames[f], labels[f], want, body, scale))
        limit = max(MIN_BLOB * scale**2, GHOST_FRACTION * max(area, MIN_OBJECT * scale**2))
        others = [labels[f] == k for k in range(len(_NAMES)) if k != want] + [dark[f]]
        if any(b.sum() >= limit for m in others for b in _blobs(m, scale, object_scale)[:1]):
            ghost = True

    areas_a = np.asarray(areas, np.float64)
    median = float(np.median(areas_a))
    size_stable = median > 0 and bool(((areas_a >= median / SIZE_RATIO) & (areas_a <= median * SIZE_RATIO)).all())
    outline = min(_best_shift_iou(objects[0], m) for m in objects[1:]) if n > 1 else 1.0

    background = _background_change(frames, (with_edges >= 0) | dark)

    direction_ok, travel, drift, jump = None, 0.0, 0.0, 0.0
    if motion in _AXES:
        direction_ok = False
    if all(a > 0 for a in areas) and n > 1:
        axis, sign = _AXES.get(motion, (0, 1.0))  # bouncing: up and down, so sideways is across
        centres = np.asarray([np.argwhere(m).mean(axis=0) for m in objects])  # (F, 2) as (y, x)
        along = sign * np.diff(centres[:, axis])
        across = np.diff(centres[:, 1 - axis])
        drift = float(np.abs(centres[:, 1 - axis] - centres[0, 1 - axis]).max()) / (V1_SIDE * object_scale * scale)
        off_pace = along - np.median(along) if motion in _AXES else np.zeros_like(along)  # a bounce reverses
        jump = float(np.hypot(off_pace, across).max()) / scale
        if motion in _AXES:
            travel = float(along.sum())
            direction_ok = bool(
                travel >= MIN_TRAVEL * scale * (n - 1)
                and travel > abs(float(across.sum()))
                and (along > 0).sum() >= MONOTONE * (n - 1)
            )
    share = blob = None
    if obj in SOLID_OBJECTS:
        share, blob = max(marks, default=(0.0, 0))
    return StrictJudgement(
        colour_ok=colour_ok, one_object=one, ghost=ghost, size_stable=size_stable, outline_iou=outline,
        background_change=background, direction_ok=direction_ok, identity_ok=identity_ok, travel=travel,
        marks=share, mark_blob=blob or 0, path_drift=drift, path_jump=jump,
    )  # fmt: skip


def judge_prompt(frames: np.ndarray, prompt: str, classifier=None, object_scale: float = 1.0) -> StrictJudgement:
    """:func:`judge_strict` for a toy-world ``prompt``; with a ``classifier``
    (:class:`~dsdn.evaluation.judge.ToyJudge`) identity is judged too."""
    from .toy import parse_prompt

    want = parse_prompt(prompt)
    if want is None:
        raise ValueError(f"prompt={prompt!r} is not a toy-world prompt (it must name a colour, an object and a motion)")
    identity = None if classifier is None else classifier.object_of(frames) == want["object"]
    return judge_strict(frames, want["colour"], want["motion"], identity, object_scale, want["object"])


STRICT_CHECKS = ("colour_ok", "one_object", "no_ghost", "no_marks", "same_shape", "same_background", "direction_ok",
                 "steady_path", "identity_ok", "clean_pixels", "clean")  # fmt: skip


def strict_rates_by_kind(records: list[dict]) -> dict[str, dict]:
    """:func:`strict_rates` of the clips of shapes and of digits apart (records with a ``prompt``), with ``clips``."""
    out = {}
    for kind in ("shape", "digit"):
        subset = [r for r in records if ("digit" in r["prompt"]) == (kind == "digit")]
        if subset:
            out[kind] = {"clips": len(subset), **strict_rates(subset)}
    return out


def strict_rates(records: list[dict]) -> dict[str, float]:
    """Share of records passing each check of :data:`STRICT_CHECKS` (records hold :meth:`StrictJudgement.as_record`
    fields under ``"strict"``); checks judged on no record are left out, and so is ``clean_pixels`` when no
    identity was judged (it is then ``clean``)."""
    out = {}
    judged_identity = any(r["strict"]["identity_ok"] is not None for r in records)
    for key in STRICT_CHECKS:
        if key == "clean_pixels" and not judged_identity:
            continue
        values = [(not r["strict"]["ghost"]) if key == "no_ghost" else r["strict"].get(key) for r in records]
        values = [v for v in values if v is not None]
        if values:
            out[key] = sum(bool(v) for v in values) / len(values)
    return out
