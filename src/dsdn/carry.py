"""Object carry (*ours*): late in sampling, later frames take frame 1's object, moved along its path.

Both streams redraw the object in every frame, and nothing in a mean-squared objective makes the frames
commit to the same strokes; a digit's outline then changes from frame to frame while the video as a
whole moves the right way (docs/experiments/2026-12-03-where-the-shape-melts.md). Object carry keeps
what the streams agree on (where the object goes, the background) and makes the object itself travel:

* once, at the first carried step, the synced clean video (stream sync's one video of both streams)
  is read for **frame 1's moving layer** (:func:`read_path`): each later frame is explained by two
  copies of frame 1, one staying and one moved by a single displacement; the displacement is searched
  in whole latent pixels up to half the frame away, with a mild pull toward where the path so far points
  (so that one badly drawn frame cannot send the path astray for the rest of the clip), then refined to
  a quarter pixel (costs averaged over 3×3 latent pixels); frame 1's object is the set of pixels that,
  one by one, match better moved than staying in most frames that travelled a latent pixel or more;
* with :data:`SMOOTH` above 0 (off for text-to-video: it steadied paths without raising the clean rate on the
  evaluation prompts, docs/experiments/2026-12-05-a-smoothed-path-and-a-step-cache.md; on for image-to-video, whose
  object waits at the picture's place and then jumps), the path read is smoothed (:func:`smooth_path`:
  robust to single frames, piecewise straight, so a bounce keeps its turn); a frame read half a latent pixel or
  more off the smoothed path, one the streams drew ahead of its pace or off its line, is moved onto it, and its own
  drawing where it was read is replaced by background;
* at that step and every later one, each later frame of the synced clean video takes frame 1's object,
  moved by its displacement, inside the moved mask (:func:`carry_object`); both streams are then pulled
  onto that video. The object is moved in pixel space by whole pixels and encoded again, so a thin stroke
  is copied, not resampled between latent pixels (which blurs it);
* outside the moved mask, and away from where frame 1's object stands, a later frame takes frame 1's
  background where it already nearly shows it (a texture redrawn slightly differently), and keeps its own
  pixels where it shows something else (a stroke frame 1's mask missed, which must not be copied into
  every frame).

It models one object moving over a still background (the toy world); a clip in which nothing travels a
latent pixel is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

RADIUS = 16  # whole latent pixels: the farthest a displacement is searched from frame 1 (and half the frame)
PULL = 0.005  # per latent pixel² from the path's extrapolation, as a share of the frame's cost staying
SUBSTEPS = 4  # then refined to 1/SUBSTEPS of a latent pixel
WINDOW = 3  # latent pixels: matching costs are averaged over this square
MIN_TRAVEL = 1.0  # latent pixels: frames that moved less do not vote on frame 1's object
# A later frame's latent pixel that differs from frame 1's by less than STILL_NEAR latent standard deviations
# (L2 over channels) takes frame 1's background, by more than STILL_FAR keeps its own; linear between.
STILL_NEAR, STILL_FAR = 0.5, 1.0
# Weight of the path's second differences (its acceleration) against the read displacements when the path is
# smoothed (:func:`smooth_path`); 0 carries the object along the path as read.
SMOOTH = 0.0
OUTLIER = 1.0  # latent pixels: a frame this far from the smoothed path counts half
SNAP = 0.5  # latent pixels: a frame read this close to the smoothed path keeps its displacement as read


@dataclass
class ObjectPath:
    """Frame 1's object in a clip: its displacement in every frame ``(F, 2)`` (dy, dx; latent pixels; frame 1's is
    0) and its mask in frame 1 ``(h, w)`` (0 or 1)."""

    shifts: torch.Tensor
    mask: torch.Tensor
    read: torch.Tensor | None = None  # the displacements as read, where ``shifts`` were smoothed from them


def smooth_path(shifts: torch.Tensor, strength: float, rounds: int = 10) -> torch.Tensor:
    """``shifts`` ``(F, 2)`` smoothed, frame 1's displacement held at 0: the path ``s`` minimising
    ``Σ ρ(|s_k − shifts_k|) + strength · Σ |Δ²s_k|`` by reweighted least squares (``rounds`` refits), with ``ρ``
    Cauchy's loss at :data:`OUTLIER` latent pixels. The L1 penalty on the path's second differences keeps it
    piecewise straight: a steady path is left as it is and a bounce keeps its turn, while a frame read a few pixels
    ahead of its neighbours, off their line, or one stride too far is pulled onto a steady pace."""
    f = len(shifts)
    if f < 3 or strength <= 0:
        return shifts
    second = torch.zeros(f - 2, f, dtype=torch.float64)
    idx = torch.arange(f - 2)
    second[idx, idx], second[idx, idx + 1], second[idx, idx + 2] = 1.0, -2.0, 1.0
    second = second[:, 1:]  # frame 1 is held at 0: solve for the others
    read = shifts[1:].double()
    fit, bend = torch.ones(f - 1, dtype=torch.float64), torch.ones(f - 2, dtype=torch.float64)
    for _ in range(rounds):
        system = torch.diag(fit) + float(strength) * second.T @ torch.diag(bend) @ second
        path = torch.linalg.solve(system, fit[:, None] * read)
        fit = 1.0 / (1.0 + ((path - read).norm(dim=-1) / OUTLIER) ** 2)
        bend = 1.0 / ((second @ path).norm(dim=-1) + 0.1)  # |Δ²s| ≈ (Δ²s)² / |Δ²s|, kept above 0.1 latent pixel
    return torch.cat([torch.zeros(1, 2, dtype=torch.float64), path]).to(shifts)


def shifted(image: torch.Tensor, shifts: torch.Tensor, padding: str = "border", mode: str = "bilinear") -> torch.Tensor:
    """``image`` ``(C, h, w)`` moved by each of ``shifts`` ``(K, 2)``: ``(K, C, h, w)``, read at ``(y − dy, x − dx)``."""
    c, h, w = image.shape
    ys = torch.arange(h, dtype=torch.float32, device=image.device)[:, None]
    xs = torch.arange(w, dtype=torch.float32, device=image.device)[None, :]
    dy, dx = shifts[:, 0, None, None].float(), shifts[:, 1, None, None].float()
    gx = ((xs - dx) * (2.0 / max(w - 1, 1)) - 1.0).expand(-1, h, w)
    gy = ((ys - dy) * (2.0 / max(h - 1, 1)) - 1.0).expand(-1, h, w)
    return F.grid_sample(image.float().expand(len(shifts), c, h, w), torch.stack([gx, gy], dim=-1), mode=mode,
                         padding_mode=padding, align_corners=True)  # fmt: skip


def _costs(candidates: torch.Tensor, frame: torch.Tensor, window: int = WINDOW) -> torch.Tensor:
    """Squared distance of candidates ``(K, C, h, w)`` to ``frame`` ``(C, h, w)``, averaged over ``window``-pixel
    squares: ``(K, h, w)``."""
    d = (candidates - frame[None]).pow(2).sum(1, keepdim=True)
    return F.avg_pool2d(d, window, stride=1, padding=window // 2, count_include_pad=False)[:, 0]


def _totals(costs: torch.Tensor, still: torch.Tensor) -> torch.Tensor:
    """Each candidate's cost ``(K,)`` over the frame, with "stay" wherever staying matches better."""
    return torch.minimum(costs, still[None]).flatten(1).sum(-1)


def _best(costs: torch.Tensor, still: torch.Tensor, shifts: torch.Tensor) -> int:
    """The shift whose layer, with "stay" wherever staying matches better, explains the frame best (ties: the
    shorter shift)."""
    total = _totals(costs, still)
    return int((total + 1e-6 * (float(total.max()) + 1e-12) * shifts.pow(2).sum(-1)).argmin())


def _whole_shift(
    first: torch.Tensor, frame: torch.Tensor, still: torch.Tensor, grid: torch.Tensor, guess: torch.Tensor
) -> torch.Tensor:
    """The whole-pixel shift of ``grid`` ``(K, 2)`` that best explains ``frame`` with frame 1 moved and staying,
    pulled toward ``guess`` by :data:`PULL` (in chunks, so that a large latent does not hold every copy)."""
    totals = torch.cat([_totals(_costs(shifted(first, part), frame), still) for part in grid.split(256)])
    total = totals + (PULL * float(still.sum()) + 1e-12) * (grid - guess).pow(2).sum(-1)  # ties: the guess
    return grid[int(total.argmin())]


def read_path(video: torch.Tensor, smooth: float | None = None) -> ObjectPath | None:
    """Frame 1's moving layer in ``video`` ``(C, F, h, w)`` (latents), or None when no frame travelled
    :data:`MIN_TRAVEL` latent pixels; ``smooth``: the weight of :func:`smooth_path` (default :data:`SMOOTH`)."""
    smooth = SMOOTH if smooth is None else smooth
    c, f, h, w = video.shape
    video = video.float()
    first = video[:, 0]
    device = video.device
    reach = min(RADIUS, max(h, w) // 2)
    ticks = torch.arange(-reach, reach + 1, dtype=torch.float32, device=device)
    grid = torch.stack(torch.meshgrid(ticks, ticks, indexing="ij"), dim=-1).reshape(-1, 2)
    fine = torch.arange(1 - SUBSTEPS, SUBSTEPS, dtype=torch.float32, device=device) / SUBSTEPS
    offsets = torch.stack(torch.meshgrid(fine, fine, indexing="ij"), dim=-1).reshape(-1, 2)
    shifts = [torch.zeros(2, device=device)]
    votes = []
    for k in range(1, f):
        frame = video[:, k]
        still = _costs(first[None], frame)[0]
        guess = shifts[-1] + (shifts[-1] - shifts[-2] if k > 1 else 0.0)  # the path so far, extended
        near = _whole_shift(first, frame, still, grid, guess) + offsets
        costs = _costs(shifted(first, near), frame)
        best = _best(costs, still, near)
        shifts.append(near[best])
        if float(near[best].norm()) >= MIN_TRAVEL:  # "this pixel moved", pixel by pixel, in frame 1's coordinates
            went = (_costs(shifted(first, near[best][None]), frame, 1)[0] < _costs(first[None], frame, 1)[0]).float()[
                None
            ]
            votes.append(shifted(went, -near[best][None], padding="zeros")[0, 0])
    if not votes:
        return None
    read = torch.stack(shifts)
    mask = (torch.stack(votes).mean(0) > 0.5).float()
    if smooth <= 0:
        return ObjectPath(read, mask)
    steady = smooth_path(read, smooth)
    moved = (steady - read).norm(dim=-1) >= SNAP  # only frames read off the smoothed path are moved onto it
    return (
        ObjectPath(torch.where(moved[:, None], steady, read), mask, read)
        if bool(moved.any())
        else ObjectPath(read, mask)
    )


def carry_object(video: torch.Tensor, path: ObjectPath, frame_vae=None) -> torch.Tensor:
    """``video`` ``(C, F, h, w)`` with every later frame, inside frame 1's mask moved along ``path``, taken from
    frame 1 moved; elsewhere frame 1's background where the frame nearly shows it already (away from frame 1's
    object, dilated by a latent pixel), its own pixels where not; and frame 1 as it is.

    With ``frame_vae`` (a :class:`~dsdn.frame_vae.FrameVAE`), frame 1 is decoded, moved by whole pixels (the
    displacements rounded to them) and encoded again; without, it is resampled in latent space."""
    first = video[:, 0].float()
    shifts = path.shifts.to(video.device)
    read = None if path.read is None else path.read.to(video.device)
    if frame_vae is None:
        layer = shifted(first, shifts)  # (F, C, h, w)
    else:
        s = frame_vae.scale_factor
        shifts = torch.round(shifts * s) / s
        read = None if read is None else torch.round(read * s) / s
        pixels = frame_vae.decode(video[None, :, :1])[0, :, 0]  # (3, H, W)
        moved = shifted(pixels, shifts * s, mode="nearest")  # (F, 3, H, W): whole pixels, exact copies
        layer = frame_vae.encode(moved.transpose(0, 1)[None].to(video.dtype), sample=False)[0].transpose(0, 1)
    mask = path.mask.to(video.device)
    inside = shifted(mask[None], shifts, padding="zeros")[:, 0]  # (F, h, w)
    stands = F.max_pool2d(mask[None, None], 3, stride=1, padding=1)[0, 0]  # frame 1's object, dilated
    distance = (video.float() - first[:, None]).pow(2).sum(0).sqrt() / (float(first.std()) + 1e-12)  # (F, h, w)
    near = ((STILL_FAR - distance) / (STILL_FAR - STILL_NEAR)).clamp(0.0, 1.0)
    background = (1.0 - inside) * (1.0 - stands) * near  # (F, h, w): the share of frame 1's background
    out = video.float() + background[None] * (first[:, None] - video.float())
    if read is not None:  # smoothed: where the frame drew its object as read, and the smoothed path left it
        out = _erase_read_object(out, mask, read, inside, stands)
    out = inside[None] * layer.float().transpose(0, 1) + (1.0 - inside[None]) * out
    out[:, 0] = video[:, 0]
    return out.to(video.dtype)


def _erase_read_object(
    video: torch.Tensor, mask: torch.Tensor, read: torch.Tensor, inside: torch.Tensor, stands: torch.Tensor
) -> torch.Tensor:
    """``video`` ``(C, F, h, w)`` with each later frame's own object, frame 1's mask moved by the displacement as
    read, replaced by the background where the smoothed path's mask ``inside`` does not cover it (nowhere in a frame
    whose displacement was kept): frame 1's pixels away from frame 1's object ``stands``, the last frame's that
    shows background there under it."""
    cover = shifted(mask[None], read, padding="zeros")[:, 0]  # (F, h, w)
    free = cover < 0.5
    last = (free.float() * torch.arange(1, len(free) + 1, device=video.device)[:, None, None]).argmax(0)  # (h, w)
    shown = free.any(0)
    under = video.gather(1, last[None, None].expand(video.shape[0], 1, -1, -1))[:, 0]  # (C, h, w)
    plate = torch.where((stands > 0) & shown, under, video[:, 0])
    ghost = ((cover - inside).clamp(min=0.0) * ((stands == 0) | shown).float())[None]  # (1, F, h, w)
    return video + ghost * (plate[:, None] - video)


class ObjectCarry:
    """The carry of one sampling call: from step index ``start`` on, :meth:`apply` carries frame 1's object in
    each clip of the synced clean video; the paths are read once, at the first call (smoothed with weight
    ``smooth``, default :data:`SMOOTH`)."""

    def __init__(self, start: int, frame_vae=None, smooth: float | None = None):
        self.start, self.frame_vae, self.smooth, self.paths = int(start), frame_vae, smooth, None

    def apply(self, video: torch.Tensor) -> torch.Tensor:
        """``video`` ``(B, C, F, h, w)`` -> the same with each clip's object carried."""
        if self.paths is None:
            self.paths = [read_path(clip, self.smooth) for clip in video]
        return torch.stack([clip if path is None else carry_object(clip, path, self.frame_vae)
                            for clip, path in zip(video, self.paths)])  # fmt: skip


def carry_start(carry_from: float, num_steps: int) -> int | None:
    """Index of the first carried step for ``carry_from`` (the share of the steps before carrying starts), or
    None when no step is carried (``carry_from`` = 1)."""
    start = round(float(carry_from) * num_steps)
    return None if start >= num_steps else start
