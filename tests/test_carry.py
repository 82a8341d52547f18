"""Object carry (dsdn.carry): frame 1's object found, and carried along its path, in latent clips made here."""

import pytest
import torch
from conftest import agrees, gen_kwargs

from dsdn.carry import ObjectCarry, ObjectPath, carry_object, carry_start, read_path, smooth_path
from dsdn.errors import DSDNInputError

SIZE, FRAMES = 24, 6  # read_path searches up to half the frame: 12 latent pixels, more than the 10 travelled
STEP = (1, 2)  # latent pixels a frame (dy, dx)


def square_clip(step=STEP, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A textured 4×4 square moving ``step`` a frame over a still textured background: latents ``(4, F, h, w)``
    and the square's mask in frame 1."""
    g = torch.Generator().manual_seed(seed)
    background = 0.3 * torch.randn(4, SIZE, SIZE, generator=g)
    sprite = 2.0 + torch.randn(4, 4, 4, generator=g)
    clip = background[:, None].repeat(1, FRAMES, 1, 1)
    for f in range(FRAMES):
        y, x = 3 + step[0] * f, 2 + step[1] * f
        clip[:, f, y : y + 4, x : x + 4] = sprite
    mask = torch.zeros(SIZE, SIZE)
    mask[3:7, 2:6] = 1.0
    return clip, mask


def test_read_path_finds_the_object_and_its_displacements():
    clip, mask = square_clip()
    path = read_path(clip)
    assert path is not None
    want = torch.tensor([[STEP[0] * f, STEP[1] * f] for f in range(FRAMES)], dtype=torch.float32)
    assert torch.equal(path.shifts, want)
    inter = float((path.mask * mask).sum())
    assert inter / float(((path.mask + mask) > 0).sum()) >= 0.8  # the square, not the background


def badly_drawn_clip(step, bad: int) -> torch.Tensor:
    """:func:`square_clip` with the square of frame index ``bad`` not drawn (noise in its place)."""
    clip, _ = square_clip(step=step)
    y, x = 3 + step[0] * bad, 2 + step[1] * bad
    clip[:, bad, y : y + 4, x : x + 4] = 0.3 * torch.randn(4, 4, 4, generator=torch.Generator().manual_seed(5))
    return clip


@pytest.mark.parametrize("step", [(1, 1), (0, 1), (1, 0)])
@pytest.mark.parametrize("bad", [2, 3])
def test_one_badly_drawn_frame_does_not_send_the_path_astray(step, bad):
    path = read_path(badly_drawn_clip(step, bad))
    assert path is not None
    for f in range(bad + 1, FRAMES):  # the frames after it: found where they are, not where a stray path points
        assert path.shifts[f].tolist() == [step[0] * f, step[1] * f]


def test_a_still_clip_has_no_path():
    clip, _ = square_clip(step=(0, 0))
    assert read_path(clip) is None


def carried(noise: float, blob: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`square_clip` with its later frames redrawn (``noise`` added; with ``blob``, frame 3 also shows a
    bright 3×3 blob away from the square's path), the clip after :func:`carry_object`, and frame 1's mask."""
    clip, mask = square_clip()
    redrawn = clip.clone()
    redrawn[:, 1:] += noise * torch.randn(4, FRAMES - 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    if blob:
        redrawn[:, 3, 18:21, 2:5] = 3.0
    shifts = torch.tensor([[STEP[0] * f, STEP[1] * f] for f in range(FRAMES)], dtype=torch.float32)
    return redrawn, carry_object(redrawn, ObjectPath(shifts, mask)), mask


def test_carry_copies_frame_one_inside_the_moved_mask():
    redrawn, out, _ = carried(noise=0.5)
    assert torch.equal(out[:, 0], redrawn[:, 0])
    for f in range(1, FRAMES):
        y, x = 3 + STEP[0] * f, 2 + STEP[1] * f
        assert agrees(out[:, f, y : y + 4, x : x + 4], redrawn[:, 0, 3:7, 2:6], atol=1e-5)  # frame 1's strokes


def test_carry_keeps_frame_ones_background_where_a_frame_nearly_shows_it_and_its_own_pixels_elsewhere():
    redrawn, out, mask = carried(noise=0.02, blob=True)  # a texture redrawn slightly differently, and a stray blob
    stands = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    stands[2:8, 1:7] = True  # where frame 1's square stands (dilated): the frames show their own background there
    for f in range(1, FRAMES):
        y, x = 3 + STEP[0] * f, 2 + STEP[1] * f
        background = ~stands.clone()
        background[y : y + 4, x : x + 4] = False
        background[18:21, 2:5] = False
        assert agrees(out[:, f][:, background], redrawn[:, 0][:, background], atol=1e-5)  # frame 1's, not redrawn
        own = stands & ~_square(y, x)
        assert agrees(out[:, f][:, own], redrawn[:, f][:, own], atol=1e-5)  # its own where frame 1's object stood
    assert agrees(out[:, 3, 18:21, 2:5], redrawn[:, 3, 18:21, 2:5], atol=1e-5)  # something else: not copied over
    assert not agrees(redrawn[:, 1:][:, :, ~stands], redrawn[:, 0][:, None][:, :, ~stands])  # (it was redrawn)


def _square(y: int, x: int) -> torch.Tensor:
    inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    inside[y : y + 4, x : x + 4] = True
    return inside


def steady(step=(1.0, 2.0), frames: int = 8) -> torch.Tensor:
    return torch.tensor([[step[0] * f, step[1] * f] for f in range(frames)])


def test_smoothing_leaves_a_steady_path_and_puts_a_stray_frame_back_on_it():
    assert agrees(smooth_path(steady(), 1.0), steady(), atol=1e-6)
    ahead, off = steady(), steady()
    ahead[4, 1] += 3.0  # read three latent pixels ahead of its pace
    off[3:6, 0] += torch.tensor([1.5, 2.5, 1.5])  # an arc off its line
    assert agrees(smooth_path(ahead, 1.0), steady(), atol=0.1)
    across = smooth_path(off, 1.0)[:, 0] - steady()[:, 0]
    assert float(across.abs().max()) < 1.5  # from 2.5
    assert torch.equal(smooth_path(ahead, 0.0), ahead)


def test_smoothing_keeps_a_bounce_turning():
    bounce = torch.tensor([[abs(3 - f) * 2.0 - 6.0, 0.0] for f in range(8)])  # up 6 latent pixels, then down again
    smooth = smooth_path(bounce, 1.0)[:, 0]
    assert float(smooth.min()) < -5.0 and float(smooth[-1]) > 1.0


def test_carry_along_a_smoothed_path_leaves_no_copy_where_the_frame_drew_its_object():
    clip, mask = square_clip()
    ahead = clip.clone()
    y, x = 3 + STEP[0] * 3, 2 + STEP[1] * 3  # frame 3's square is drawn 3 latent pixels ahead of its pace
    ahead[:, 3, y : y + 4, x : x + 4] = clip[:, 0, y : y + 4, x : x + 4]  # (frame 1's background there)
    ahead[:, 3, y : y + 4, x + 3 : x + 7] = clip[:, 0, 3:7, 2:6]
    read = torch.tensor([[STEP[0] * f, STEP[1] * f + (3 if f == 3 else 0)] for f in range(FRAMES)], dtype=torch.float32)
    out = carry_object(ahead, ObjectPath(smooth_path(read, 1.0).round(), mask, read))
    want = carry_object(clip, ObjectPath(read.clone().index_put_((torch.tensor([3]), torch.tensor([1])),
                                                                 torch.tensor(6.0)), mask))  # fmt: skip
    assert agrees(out[:, 3], want[:, 3], atol=0.05)  # the square on its pace, frame 1's background where it was drawn
    assert not agrees(ahead[:, 3], want[:, 3], atol=0.05)


def test_carry_start():
    assert carry_start(1.0, 25) is None
    assert carry_start(0.64, 25) == 16
    assert carry_start(0.0, 25) == 0


@pytest.mark.slow
def test_pipeline_carry_off_samples_as_before_and_on_changes_the_clip(pipe):
    kw = dict(stream_sync=1.0, num_frames=8, num_inference_steps=4, output_type="latent")
    before = pipe("a red ball", **gen_kwargs(**kw)).frames
    assert agrees(pipe("a red ball", carry_from=1.0, **gen_kwargs(**kw)).frames, before)
    carried = pipe("a red ball", carry_from=0.5, **gen_kwargs(**kw)).frames
    assert torch.isfinite(carried).all() and not agrees(carried, before)


@pytest.mark.parametrize("kw", [dict(carry_from=1.5), dict(carry_from=float("nan")),
                                dict(carry_from=0.5, stream_sync=0.0)])  # fmt: skip
def test_pipeline_refuses_a_bad_carry(pipe, kw):
    with pytest.raises(DSDNInputError, match="carry_from"):
        pipe("a red ball", **gen_kwargs(**kw))


@pytest.mark.slow
def test_a_models_default_carry_gives_way_when_the_call_turns_stream_sync_off(pipe):
    pipe.adapter.register_to_config(stream_sync=1.0, carry_from=0.5)  # (a fresh pipeline per test)
    assert pipe.sampling_settings()["carry_from"] == 0.5
    assert pipe.sampling_settings(stream_sync=0.0)["carry_from"] == 1.0  # no error: the default follows sync
    assert pipe.sampling_settings(stream_sync=0.0, carry_from=0.5)["carry_from"] == 0.5  # the caller's: refused
    kw = dict(stream_sync=0.0, num_frames=8, num_inference_steps=2, output_type="latent")
    assert torch.isfinite(pipe("a red ball", **gen_kwargs(**kw)).frames).all()


def test_a_smoothed_path_keeps_the_displacements_read_near_it(monkeypatch):
    import dsdn.carry as carry

    monkeypatch.setattr(carry, "SMOOTH", 1.0)
    path = read_path(square_clip()[0])  # a steady path: nothing to move
    assert path.read is None and path.shifts.tolist() == [[STEP[0] * f, STEP[1] * f] for f in range(FRAMES)]


def test_a_path_that_waits_then_jumps_is_smoothed_when_asked_and_only_then():
    """Image-to-video's defect: the object stays at the picture's place for a frame, then jumps to its path."""
    clip, _ = square_clip(step=(0, 2))
    waits = clip.clone()
    waits[:, 1] = clip[:, 0]  # frame 2 shows the object where frame 1 has it; the others are where they were
    read = [[0.0, 0.0], [0.0, 0.0]] + [[0.0, 2.0 * f] for f in range(2, FRAMES)]
    assert read_path(waits).shifts.tolist() == read and read_path(waits).read is None  # default: as read
    smoothed = read_path(waits, smooth=1.0)
    assert smoothed.read is not None and smoothed.read.tolist() == read
    assert smoothed.shifts[1, 1] > 0.5  # frame 2 is moved toward the path
    carry = ObjectCarry(0, smooth=1.0)
    out = carry.apply(waits[None])
    assert carry.paths[0].read is not None and out.shape == waits[None].shape
