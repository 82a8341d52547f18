"""The toy world: a deterministic generator of captioned videos that no one has to download.

Objects are real handwritten digits (scikit-learn's bundled ``load_digits``) and geometric
shapes, in several colours, moving left, right, up, down or bouncing at two speeds over plain or
textured backgrounds (texture makes flicker visible). Captions come from templates with
synonyms. Three versions of the world exist (:data:`VERSIONS`). A named split holds out some
(object, colour, motion) combinations for a compositional test. Every clip is a pure function of
its :class:`ClipSpec` (seed included).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DSDNInputError, check_float

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SHAPES = ("circle", "square", "triangle")
OBJECTS = SHAPES + tuple(f"digit {n}" for n in DIGIT_NAMES)
COLOURS = {
    "red": (230, 40, 40),
    "green": (40, 200, 70),
    "blue": (60, 90, 240),
    "yellow": (240, 215, 40),
    "white": (245, 245, 245),
}
MOTIONS = ("left", "right", "up", "down", "bouncing")
SPEEDS = {"slowly": 2, "quickly": 4}  # pixels per frame at 64x64
BACKGROUNDS = ("plain", "textured")
#: Combinations never seen in the ``train`` split; the ``heldout`` split is exactly these.
HELDOUT_COMBOS = frozenset(
    {
        ("circle", "blue", "up"),
        ("square", "red", "left"),
        ("triangle", "yellow", "bouncing"),
        ("digit three", "green", "right"),
        ("digit seven", "white", "down"),
        ("digit zero", "red", "bouncing"),
    }
)
SPLITS = ("train", "heldout", "all")

_V1_PHRASES = {
    "left": ("moving left", "moves left", "slides to the left", "is moving to the left"),
    "right": ("moving right", "moves right", "slides to the right", "is moving to the right"),
    "up": ("moving up", "moves up", "rises", "is moving upwards"),
    "down": ("moving down", "moves down", "falls", "is moving downwards"),
    "bouncing": ("bouncing", "bounces", "is bouncing", "bouncing up and down"),
}
#: Versions of the world; a clip's version is part of its :class:`ClipSpec`. ``"v1"`` (the default,
#: the shipped model's): half of the up/down phrases lack the word "up"/"down" ("rises", "is moving
#: upwards"); "bouncing up and down" names both vertical directions; and a bouncing clip starts on the
#: rising half of its path, so most bouncing clips move up on balance (over 70%, as
#: tests/test_toy_world.py checks). ``"v2"`` mends all three: every phrase of a directed motion
#: carries its direction word (as "left"/"right" do in both), bouncing names no direction, and the
#: bounce starts anywhere on its path (up or down alike). Only bouncing clips' frames and the
#: captions differ; v2's words are a subset of v1's, so a base trained on v1's vocabulary knows them.
#: ``"v3"`` is v1 with objects twice as large (half the frame's side instead of a quarter): a digit's
#: 8×8 bitmap then covers 8×8 latent cells of a 4×-downsampling VAE instead of 4×4.
VERSIONS = ("v1", "v2", "v3")
#: An object's side is the frame's side divided by this, per world version.
OBJECT_DIVISOR = {"v1": 4, "v2": 4, "v3": 2}


def object_scale(version: str) -> float:
    """How much larger the objects of world ``version`` are than v1's (1 for v1 and v2, 2 for v3)."""
    return OBJECT_DIVISOR["v1"] / OBJECT_DIVISOR[version]


#: Motion phrases by world version.
CAPTION_SETS = {
    "v1": _V1_PHRASES,
    "v3": _V1_PHRASES,
    "v2": {
        **{m: _V1_PHRASES[m] for m in ("left", "right")},
        "up": ("moving up", "moves up", "rises up", "is moving up"),
        "down": ("moving down", "moves down", "falls down", "is moving down"),
        "bouncing": ("bouncing", "bounces", "is bouncing"),
    },
}
_TEMPLATES = ("a {colour} {object} {motion}", "the {colour} {object} {motion}", "a {colour} {object} {motion} {speed}")


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines one toy-world clip."""

    object: str
    colour: str
    motion: str
    speed: str = "quickly"
    background: str = "plain"
    seed: int = 0
    version: str = "v1"

    def __post_init__(self):
        for name, value, allowed in (
            ("object", self.object, OBJECTS),
            ("colour", self.colour, tuple(COLOURS)),
            ("motion", self.motion, MOTIONS),
            ("speed", self.speed, tuple(SPEEDS)),
            ("background", self.background, BACKGROUNDS),
            ("version", self.version, VERSIONS),
        ):
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is invalid: must be one of {', '.join(allowed)}")

    @property
    def combo(self) -> tuple[str, str, str]:
        return (self.object, self.colour, self.motion)


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target


def _sprite(spec: ClipSpec, rng: np.random.Generator, size: int) -> np.ndarray:
    """Object mask in [0, 1], ``(size, size)``."""
    if spec.object.startswith("digit "):
        images, labels = _digits()
        idx = rng.choice(np.flatnonzero(labels == DIGIT_NAMES.index(spec.object.split()[1])))
        scale = size // 8
        return np.kron(images[idx], np.ones((scale, scale), np.float32))  # nearest-neighbour upscale
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    c = size / 2
    if spec.object == "circle":
        return ((yy - c) ** 2 + (xx - c) ** 2 <= (0.45 * size) ** 2).astype(np.float32)
    if spec.object == "square":
        m = np.zeros((size, size), np.float32)
        m[1:-1, 1:-1] = 1.0
        return m
    # triangle pointing up
    return ((yy >= 1) & (np.abs(xx - c) <= (yy - 1) / 2 + 0.5) & (yy <= size - 1)).astype(np.float32)


def _background(spec: ClipSpec, rng: np.random.Generator, size: int) -> np.ndarray:
    if spec.background == "plain":
        return np.full((size, size, 3), 24.0, np.float32)
    # Static, low-frequency texture: any per-frame change on it is flicker.
    coarse = rng.uniform(10, 90, (8, 8, 3)).astype(np.float32)
    return np.kron(coarse, np.ones((size // 8, size // 8, 1), np.float32))


def _positions(spec: ClipSpec, rng: np.random.Generator, num_frames: int, size: int, obj: int) -> np.ndarray:
    """Top-left ``(y, x)`` per frame, keeping the object fully inside the frame."""
    room = size - obj
    step = min(SPEEDS[spec.speed] * size / 64, room / max(num_frames - 1, 1))
    travel = step * (num_frames - 1)
    t = np.arange(num_frames, dtype=np.float32)
    if spec.motion == "bouncing":
        x = np.full(num_frames, rng.uniform(0, room))
        start = rng.uniform(0, 2 * room if spec.version == "v2" else room)  # v1, v3: always on the rising half
        phase = (t * step + start) % (2 * room)
        y = np.where(phase <= room, room - phase, phase - room)  # a triangle wave: reflects at the walls
        return np.stack([y, x], 1)
    start = rng.uniform(0, room - travel) if room > travel else 0.0
    other = np.full(num_frames, rng.uniform(0, room))
    along = start + t * step
    if spec.motion in ("left", "up"):
        along = room - along
    return np.stack([other, along], 1) if spec.motion in ("left", "right") else np.stack([along, other], 1)


def render_clip(spec: ClipSpec, num_frames: int = 8, size: int = 64) -> np.ndarray:
    """Render ``spec`` as uint8 ``(F, size, size, 3)``."""
    if size % 16 or size < 32:
        raise DSDNInputError(f"size={size} is invalid: the toy world needs a multiple of 16, >= 32")
    if num_frames < 2:
        raise ValueError(f"num_frames={num_frames} is invalid: must be >= 2")
    rng = np.random.default_rng(spec.seed)
    obj = size // OBJECT_DIVISOR[spec.version]
    sprite = _sprite(spec, rng, obj)[..., None]  # (obj, obj, 1)
    colour = np.asarray(COLOURS[spec.colour], np.float32)
    bg = _background(spec, rng, size)
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for i, (y, x) in enumerate(_positions(spec, rng, num_frames, size, obj)):
        y, x = int(round(float(y))), int(round(float(x)))
        frame = bg.copy()
        patch = frame[y : y + obj, x : x + obj]
        frame[y : y + obj, x : x + obj] = patch * (1 - sprite) + colour * sprite
        frames[i] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames


def caption_for(spec: ClipSpec, variant: int = 0) -> str:
    """A caption of ``spec`` in its world version's phrases; ``variant`` picks the template and
    synonyms deterministically."""
    phrases = CAPTION_SETS[spec.version][spec.motion]
    template = _TEMPLATES[variant % len(_TEMPLATES)]
    return template.format(
        colour=spec.colour, object=spec.object, motion=phrases[(variant // len(_TEMPLATES)) % len(phrases)],
        speed=spec.speed,
    )  # fmt: skip


def all_captions(spec: ClipSpec) -> list[str]:
    """Every caption ``spec`` can get (each variant of :func:`caption_for` once)."""
    return [caption_for(spec, v) for v in range(len(_TEMPLATES) * len(CAPTION_SETS[spec.version][spec.motion]))]


def vocabulary() -> list[str]:
    """Every word a toy-world caption can contain, in any version of the world."""
    words = set()
    specs = (ClipSpec(o, c, m, s, version=w) for o in OBJECTS for c in COLOURS for m in MOTIONS for s in SPEEDS
             for w in VERSIONS)  # fmt: skip
    for spec in specs:
        for caption in all_captions(spec):
            words.update(caption.split())
    return sorted(words)


class ToyWorld:
    """An indexable, deterministic dataset of toy-world clips.

    Item ``i`` of a world with seed ``s`` is always the same clip. Items are dicts with
    ``video`` (uint8 ``(F, H, W, 3)``), ``caption`` and the labels of :class:`ClipSpec`.

    Args:
        split: ``"train"`` (held-out combinations excluded), ``"heldout"`` (only those) or ``"all"``.
        length: number of clips.
        num_frames: 8 by default, up to 16.
        size: frame height and width in pixels.
        seed: world seed.
        version: ``"v1"``, ``"v2"`` or ``"v3"`` (:data:`VERSIONS`): v2 differs from v1 in bouncing clips'
            paths and the captions, v3 in the objects' size.
        transpose: swap every clip's height and width, captions unchanged: "up"/"down" then name
            horizontal motion and "left"/"right" vertical motion (a diagnostic: does a model's
            trouble follow the words or the screen axis?).
        motions: only these motions (default: all of :data:`MOTIONS`), e.g. without ``"bouncing"``.
        shape_share: the share of clips that show a solid shape (:data:`SHAPES`) rather than a digit; by
            default every object is equally likely (3 shapes of 13 objects). A training mix, e.g. for a base
            that must learn to draw solid shapes over the textured background.
    """

    def __init__(self, split: str = "train", length: int = 10_000, num_frames: int = 8, size: int = 64, seed: int = 0,
                 version: str = "v1", transpose: bool = False, motions: tuple[str, ...] | None = None,
                 shape_share: float | None = None):  # fmt: skip
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is invalid: must be one of {', '.join(SPLITS)}")
        if version not in VERSIONS:
            raise ValueError(f"version={version!r} is invalid: must be one of {', '.join(VERSIONS)}")
        self.split, self.length, self.num_frames, self.size, self.seed = split, length, num_frames, size, seed
        self.version = version
        self.transpose = bool(transpose)
        self.motions = MOTIONS if motions is None else tuple(motions)
        unknown = [m for m in self.motions if m not in MOTIONS]
        if unknown or not self.motions:
            raise ValueError(f"motions={motions!r} is invalid: must be one or more of {', '.join(MOTIONS)}")
        combos = [(o, c, m) for o in OBJECTS for c in COLOURS for m in MOTIONS if m in self.motions]
        if split == "train":
            combos = [k for k in combos if k not in HELDOUT_COMBOS]
        elif split == "heldout":
            combos = [k for k in sorted(HELDOUT_COMBOS) if k[2] in self.motions]  # every motion has some
        self.combos = combos
        self.shape_share = None if shape_share is None else check_float("shape_share", shape_share, 0.0, 1.0)
        self._kinds = ([k for k in combos if k[0] in SHAPES], [k for k in combos if k[0] not in SHAPES])

    def __len__(self) -> int:
        return self.length

    def spec(self, index: int) -> ClipSpec:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        combos = self.combos
        if self.shape_share is not None:  # the kind first (a solid shape or a digit), then a combination of it
            shapes, digits = self._kinds
            combos = (shapes if rng.random() < self.shape_share else digits) or self.combos  # (a kind may be absent)
        o, c, m = combos[rng.integers(len(combos))]
        return ClipSpec(
            o, c, m, speed=str(rng.choice(list(SPEEDS))), background=str(rng.choice(BACKGROUNDS)),
            seed=int(rng.integers(2**31)), version=self.version,
        )  # fmt: skip

    def __getitem__(self, index: int) -> dict:
        spec = self.spec(index)
        variant = int(np.random.default_rng([self.seed, index, 1]).integers(1 << 16))
        video = render_clip(spec, self.num_frames, self.size)
        return {
            "video": video.transpose(0, 2, 1, 3).copy() if self.transpose else video,
            "caption": caption_for(spec, variant),
            **asdict(spec),
        }

    def __iter__(self) -> Iterator[dict]:
        for i in range(self.length):
            yield self[i]


def write_video_folder(world: ToyWorld, root: str | Path, fps: int = 8) -> Path:
    """Write every clip of ``world`` as ``root/clip_XXXXXX.mp4`` plus ``root/captions.csv``.

    The CSV has the columns ``video`` and ``caption`` (what :class:`~dsdn.data.VideoFolder`
    reads by default) and every label. mp4 is lossy (H.264), so re-read frames differ slightly.
    """
    import csv

    from ..video_io import save_video

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fields = ["video", "caption", "object", "colour", "motion", "speed", "background", "seed", "version"]
    with open(root / "captions.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for i in range(len(world)):
            item = world[i]
            name = f"clip_{i:06d}.mp4"
            save_video(item["video"], root / name, fps=fps)
            writer.writerow({"video": name, **{k: item[k] for k in fields[1:]}})
    return root
