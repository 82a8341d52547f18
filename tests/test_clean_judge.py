"""The strict judge passes real toy clips and fails the defects a person sees."""

import itertools

import numpy as np
import pytest

from dsdn.data.toy_world import COLOURS, OBJECTS, ClipSpec, object_scale, render_clip
from dsdn.evaluation.clean import judge_prompt, judge_strict, strict_rates
from dsdn.video_io import read_video, save_video

LINEAR = ("left", "right", "up", "down")


def _real_clips(count, motions=LINEAR, version="v1"):
    """``count`` real clips spread over objects, colours, motions, speeds and backgrounds."""
    combos = list(itertools.product(OBJECTS, COLOURS, motions, ("slowly", "quickly"), ("plain", "textured")))
    rng = np.random.default_rng(0)
    for k in rng.choice(len(combos), count, replace=False):
        spec = ClipSpec(*combos[k], seed=int(k), version=version)
        yield spec, render_clip(spec)


@pytest.mark.slow
def test_real_clips_are_clean():
    results = [
        (spec, judge_strict(video, spec.colour, spec.motion, obj=spec.object)) for spec, video in _real_clips(200)
    ]
    dirty = [(spec, j) for spec, j in results if not j.clean]
    assert len(dirty) <= 2, dirty  # a digit whose own sprite has a gap may split: a clip or two at most
    assert all(j.direction_ok is not None for _, j in results)
    assert all((j.marks is None) == ("digit" in spec.object) for spec, j in results)  # only solid shapes have an inside


@pytest.mark.slow
def test_real_bouncing_and_mp4_round_tripped_clips_are_clean(tmp_path):
    bouncing = [judge_strict(v, s.colour, s.motion) for s, v in _real_clips(20, ("bouncing",))]
    assert sum(j.clean for j in bouncing) >= 19 and all(j.direction_ok is None for j in bouncing)
    judged = []
    for i, (spec, video) in enumerate(_real_clips(12)):
        save_video(video, tmp_path / f"{i}.mp4", fps=8)  # H.264 is lossy: colours and edges shift a little
        judged.append(judge_strict(read_video(tmp_path / f"{i}.mp4"), spec.colour, spec.motion).clean)
    assert sum(judged) >= 11


def _base(background="plain"):
    return render_clip(ClipSpec("circle", "red", "right", "quickly", background, seed=4))


def _paste(video, colour, dy, dx, size=14):
    """Paste a filled ``size``-pixel square of ``colour`` at a fixed offset ``(dy, dx)`` from each frame's object."""
    out = video.copy()
    red = np.abs(video.astype(int) - COLOURS["red"]).sum(-1) < 30
    for f in range(len(out)):
        ys, xs = np.nonzero(red[f])
        y, x = int(ys.mean()) + dy - size // 2, int(xs.mean()) + dx - size // 2
        y, x = np.clip(y, 0, 64 - size), np.clip(x, 0, 64 - size)
        out[f, y : y + size, x : x + size] = colour
    return out


@pytest.mark.parametrize("background", ["plain", "textured"])
def test_a_clean_clip_passes_every_check(background):
    j = judge_strict(_base(background), "red", "right")
    assert j.clean and j.one_object and not j.ghost and j.same_shape and j.direction_ok and j.colour_ok
    assert j.travel > 20


@pytest.mark.parametrize("ghost", ["green", "white", "blue"])
def test_a_pasted_ghost_of_another_colour_fails(ghost):
    j = judge_strict(_paste(_base(), COLOURS[ghost], 20, 0, size=12), "red", "right")
    assert j.ghost and not j.clean and j.colour_ok and j.one_object  # the red object itself is fine


def test_a_small_ghost_beside_the_object_fails():
    j = judge_strict(_paste(_base(), COLOURS["green"], 12, 0, size=7), "red", "right")  # a quarter of its area
    assert j.ghost and not j.clean


def test_a_dark_hole_fails_on_a_textured_background():
    j = judge_strict(_paste(_base("textured"), (0, 0, 0), 20, 0), "red", "right")
    assert j.ghost and not j.clean


def test_a_duplicated_object_fails():
    j = judge_strict(_paste(_base(), COLOURS["red"], 22, 0), "red", "right")
    assert not j.one_object and not j.clean and not j.ghost


@pytest.mark.slow
def test_a_world_with_larger_objects_is_judged_at_its_scale():
    scale = object_scale("v3")
    clips = list(_real_clips(120, version="v3"))
    dirty = [s for s, v in clips if not judge_strict(v, s.colour, s.motion, object_scale=scale, obj=s.object).clean]
    assert len(dirty) <= 1, dirty
    video = render_clip(ClipSpec("square", "red", "right", "quickly", "plain", seed=1, version="v3"))
    assert judge_strict(video, "red", "right", object_scale=scale).clean
    cut = video.copy()  # a 6-pixel gap through the object: v3's digit pixels are 4 pixels, v1's 2
    for f in range(len(cut)):
        xs = np.nonzero((np.abs(video[f].astype(int) - COLOURS["red"]).sum(-1) < 30).any(0))[0]
        middle = int(xs.mean())
        cut[f, :, middle - 3 : middle + 3] = video[0, 0, 0]
    assert judge_strict(cut, "red", "right", object_scale=scale).one_object
    assert not judge_strict(cut, "red", "right").one_object
    twice = video.copy()  # a small same-colour copy 12+ pixels above the object (rows 32-59 in every frame)
    twice[:, 8:20, 28:40] = COLOURS["red"]
    j = judge_strict(twice, "red", "right", object_scale=scale)
    assert not j.one_object and not j.clean
    ghost = _paste(video, COLOURS["green"], 0, 0, size=18)
    assert judge_strict(ghost, "red", "right", object_scale=scale).ghost


def test_a_static_clip_and_a_reversed_clip_fail_direction_only():
    video = _base()
    static = judge_strict(np.repeat(video[:1], 8, axis=0), "red", "right")
    assert static.direction_ok is False and not static.clean and static.one_object and static.same_shape
    reverse = judge_strict(video[::-1], "red", "right")
    assert reverse.direction_ok is False and not reverse.clean and reverse.travel < 0
    assert judge_strict(video[::-1], "red", "left").clean


def test_a_jittering_object_fails_direction():
    video = _base()
    jitter = video[[0, 3, 1, 4, 2, 5, 3, 7]]  # ends right of where it starts, but goes back and forth
    assert judge_strict(jitter, "red", "right").direction_ok is False


def test_an_object_that_leaves_its_line_or_jumps_ahead_fails_steady_path_only():
    """A digit whose outline grows a limb that drags it off its line, or that skips ahead, still moves the asked way."""
    video = render_clip(ClipSpec("circle", "red", "right", "slowly", "plain", seed=4))
    assert judge_strict(video, "red", "right").path_drift == 0.0
    off = video.copy()
    off[4:] = np.roll(video[4:], -8, axis=1)  # half an object's side up, from frame 5 on
    drift = video.copy()
    drift[5:] = np.roll(video[5:], 3, axis=1)
    drift[7:] = np.roll(video[7:], 5, axis=1)  # 5 pixels down by the end, never more than 3 in a step
    ahead = video.copy()
    ahead[2:4] = np.roll(video[2:4], 7, axis=2)  # two frames 7 pixels ahead of the steady pace
    for clip in (off, drift, ahead):
        j = judge_strict(clip, "red", "right")
        assert not j.steady_path and j.failed_checks() == ["path"] and j.direction_ok
    assert judge_strict(drift, "red", "right").path_jump < 6 < judge_strict(ahead, "red", "right").path_jump
    nearly = video.copy()
    nearly[2:4] = np.roll(video[2:4], 5, axis=2)  # 5 pixels: within a fast step of the pace
    assert judge_strict(nearly, "red", "right").clean
    bounce = render_clip(ClipSpec("circle", "red", "bouncing", "slowly", "plain", seed=4))
    sideways = bounce.copy()
    sideways[4:] = np.roll(bounce[4:], 8, axis=2)
    assert (
        judge_strict(bounce, "red", "bouncing").steady_path
        and not judge_strict(sideways, "red", "bouncing").steady_path
    )


def test_a_swelling_or_changing_object_fails_same_shape():
    video = _base()
    swollen = _paste(video, COLOURS["red"], 0, 0, size=30)
    swollen[:4] = video[:4]  # half the frames show a much bigger object
    j = judge_strict(swollen, "red", "right")
    assert not j.size_stable and not j.clean
    square = render_clip(ClipSpec("triangle", "red", "right", "quickly", "plain", seed=4))
    morph = np.concatenate([video[:4], square[4:]])  # circle becomes a triangle half-way
    assert judge_strict(morph, "red", "right").outline_iou < judge_strict(video, "red", "right").outline_iou


def test_wrong_colour_and_empty_clips_fail():
    video = _base()
    assert not judge_strict(video, "blue", "right").clean  # the asked colour is absent
    empty = np.full_like(video, 24)
    j = judge_strict(empty, "red", "right")
    assert not j.clean and not j.one_object and j.direction_ok is False


def test_identity_counts_only_when_judged():
    class Says:
        def __init__(self, name):
            self.name = name

        def object_of(self, video):
            return self.name

    video = _base()
    assert judge_prompt(video, "a red circle moving right").identity_ok is None
    assert judge_prompt(video, "a red circle moving right", Says("circle")).clean
    wrong = judge_prompt(video, "a red circle moving right", Says("square"))
    assert not wrong.clean and wrong.clean_pixels
    rates = strict_rates([{"strict": wrong.as_record()}])
    assert rates["clean"] == 0.0 and rates["clean_pixels"] == 1.0 and rates["identity_ok"] == 0.0
    with pytest.raises(ValueError, match="not a toy-world prompt"):
        judge_prompt(video, "a cat")


def test_strict_rates_count_each_check():
    records = [{"strict": judge_strict(v, "red", "right").as_record()} for v in (_base(), _base()[::-1])]
    rates = strict_rates(records)
    assert rates["clean"] == 0.5 and rates["direction_ok"] == 0.5 and rates["no_ghost"] == 1.0
    assert "identity_ok" not in rates and "clean_pixels" not in rates


def test_a_background_that_changes_between_frames_fails():
    plain, textured = _base("plain"), _base("textured")
    switch = np.concatenate([plain[:4], textured[4:]])  # the same object; the background turns textured
    j = judge_strict(switch, "red", "right")
    assert not j.same_background and not j.clean and j.one_object and not j.ghost
    assert judge_strict(textured, "red", "right").background_change == 0.0


def test_strict_rates_by_kind_split_shapes_and_digits():
    from dsdn.evaluation.clean import strict_rates_by_kind

    good, bad = (
        judge_strict(_base(), "red", "right").as_record(),
        judge_strict(_base()[::-1], "red", "right").as_record(),
    )
    records = [{"prompt": "a red circle moving right", "strict": good},
               {"prompt": "a red digit one moving right", "strict": bad},
               {"prompt": "a red digit two moving right", "strict": good}]  # fmt: skip
    by_kind = strict_rates_by_kind(records)
    assert by_kind["shape"]["clips"] == 1 and by_kind["shape"]["clean"] == 1.0
    assert by_kind["digit"]["clips"] == 2 and by_kind["digit"]["clean"] == 0.5


def test_failed_checks_name_what_fails():
    assert judge_strict(_base(), "red", "right").failed_checks() == []
    assert judge_strict(_base()[::-1], "red", "right").failed_checks() == ["direction"]
    assert "ghost" in judge_strict(_paste(_base(), COLOURS["green"], 20, 0, size=12), "red", "right").failed_checks()


@pytest.mark.parametrize("mark", ["orange", "yellow", "white"])
def test_a_shape_with_a_mark_of_another_colour_inside_fails(mark):
    """The shading a person sees inside a generated square (an orange, triangle-like patch) is not the asked colour."""
    scale = object_scale("v3")
    video = render_clip(ClipSpec("square", "red", "right", "quickly", "textured", seed=2, version="v3"))
    assert judge_strict(video, "red", "right", object_scale=scale, obj="square").no_marks
    colour = {"orange": (245, 150, 60), "yellow": COLOURS["yellow"], "white": COLOURS["white"]}[mark]
    marked = video.copy()
    red = np.abs(video.astype(int) - COLOURS["red"]).sum(-1) < 30
    for f in range(len(marked)):
        ys, xs = np.nonzero(red[f])
        y, x = int(ys.mean()), int(xs.mean())
        for row in range(5):  # a small triangle in the middle of the square, 15 pixels
            marked[f, y - 2 + row, x - row // 2 : x + row // 2 + 1] = colour
    j = judge_strict(marked, "red", "right", object_scale=scale, obj="square")
    assert j.no_marks is False and not j.clean and "marks" in j.failed_checks()
    assert j.colour_ok and j.one_object and not j.ghost  # no other check sees it
    assert judge_strict(marked, "red", "right", object_scale=scale).no_marks is None  # not judged without the object
