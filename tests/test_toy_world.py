import numpy as np
import pytest

from dsdn.data import HELDOUT_COMBOS, MOTIONS, ClipSpec, ToyWorld, caption_for, render_clip
from dsdn.data.toy_world import COLOURS, SHAPES, vocabulary
from dsdn.errors import DSDNInputError


def _centroids(video, colour):
    target = np.asarray(COLOURS[colour], float)
    out = []
    for f in video.astype(float):
        mask = np.abs(f - target).sum(-1) < 60
        ys, xs = np.nonzero(mask)
        out.append((ys.mean(), xs.mean()) if len(ys) else (np.nan, np.nan))
    return np.array(out)


def test_same_seed_same_bytes_and_different_seed_differs():
    a, b = ToyWorld(seed=3, length=5), ToyWorld(seed=3, length=5)
    assert all(
        a[i]["video"].tobytes() == b[i]["video"].tobytes() and a[i]["caption"] == b[i]["caption"] for i in range(5)
    )
    c = ToyWorld(seed=4, length=5)
    assert any(a[i]["video"].tobytes() != c[i]["video"].tobytes() for i in range(5))


def test_shapes_and_16_frames():
    item = ToyWorld(length=1, num_frames=16)[0]
    assert item["video"].shape == (16, 64, 64, 3) and item["video"].dtype == np.uint8


@pytest.mark.parametrize("motion", MOTIONS)
@pytest.mark.parametrize("obj", ["circle", "digit seven"])
def test_object_visible_in_every_frame_and_moves_as_captioned(motion, obj):
    spec = ClipSpec(obj, "red", motion, speed="quickly", background="textured", seed=5)
    video = render_clip(spec, num_frames=8)
    c = _centroids(video, "red")
    assert not np.isnan(c).any()  # visible in every frame
    dy, dx = c[-1] - c[0]
    expected = {"left": dx < -8, "right": dx > 8, "up": dy < -8, "down": dy > 8}
    if motion == "bouncing":
        assert np.ptp(c[:, 0]) > 8 and np.ptp(c[:, 1]) < 1
    else:
        assert expected[motion], (dy, dx)


def test_captions_match_labels():
    world = ToyWorld(length=50, seed=1)
    for i in range(50):
        item = world[i]
        cap = item["caption"]
        assert item["colour"] in cap and item["object"] in cap
        words = {
            "left": "left",
            "right": "right",
            "up": ("up", "rises"),
            "down": ("down", "falls"),
            "bouncing": "bounc",
        }
        assert any(w in cap for w in np.atleast_1d(words[item["motion"]])), cap
    assert caption_for(ClipSpec("circle", "red", "left"), 0) == "a red circle moving left"
    assert {"red", "circle", "left", "bouncing", "seven"} <= set(vocabulary())


def test_splits_are_disjoint_and_heldout_is_exact():
    train = {ToyWorld("train", length=3000).spec(i).combo for i in range(3000)}
    held = {ToyWorld("heldout", length=200).spec(i).combo for i in range(200)}
    assert not train & HELDOUT_COMBOS
    assert held == set(HELDOUT_COMBOS)


def test_bad_spec_names_the_field():
    with pytest.raises(ValueError, match="colour='pink'"):
        ClipSpec("circle", "pink", "left")
    with pytest.raises(ValueError, match="split="):
        ToyWorld("test")


@pytest.mark.slow
def test_world_v2_names_each_direction_in_every_caption_and_bounces_both_ways():
    from dsdn.evaluation.toy import parse_prompt

    v1, v2 = ToyWorld(length=300, seed=2), ToyWorld(length=300, seed=2, version="v2")
    bounce = {"v1": [], "v2": []}
    for i in range(300):
        a, b = v1[i], v2[i]
        assert (a["object"], a["motion"], a["seed"], b["version"]) == (b["object"], b["motion"], b["seed"], "v2")
        if a["motion"] != "bouncing":  # only bouncing paths differ
            np.testing.assert_array_equal(a["video"], b["video"])
        for item in (a, b):  # the eval's prompt parser reads every caption of both versions as its own motion
            assert parse_prompt(item["caption"])["motion"] == item["motion"], item["caption"]
        words = set(b["caption"].split())
        if b["motion"] in ("up", "down"):
            assert b["motion"] in words and not ({"up", "down"} - {b["motion"]}) & words, b["caption"]
        if b["motion"] == "bouncing":
            assert not {"up", "down"} & words, b["caption"]
            for item in (a, b):  # net vertical travel of the object (image y grows downwards)
                c = _centroids(item["video"], item["colour"])[:, 0]
                bounce[item["version"]].append(c[-1] - c[0])
    # v1's bounce starts on the rising half of its path: mostly upwards; v2's goes either way
    assert np.mean(np.array(bounce["v1"]) < 0) > 0.7
    assert 0.3 < np.mean(np.array(bounce["v2"]) < 0) < 0.7
    captions = lambda w, m: {caption_for(ClipSpec("circle", "red", m, version=w), v) for v in range(12)}  # noqa: E731
    assert "a red circle rises" in captions("v1", "up")
    assert "a red circle bouncing up and down" in captions("v1", "bouncing")
    assert all("up" in c.split() for c in captions("v2", "up"))
    assert all("down" in c.split() for c in captions("v2", "down"))
    assert set(vocabulary()) >= {w for m in MOTIONS for c in captions("v2", m) for w in c.split()}
    with pytest.raises(ValueError, match="version='v9'"):
        ToyWorld(version="v9")


@pytest.mark.slow
def test_world_v3_draws_the_same_clips_with_objects_twice_as_large():
    from dsdn.evaluation.clean import judge_strict

    v1, v3 = ToyWorld(length=60, seed=3), ToyWorld(length=60, seed=3, version="v3")
    for i in range(60):
        a, b = v1[i], v3[i]
        assert (a["object"], a["colour"], a["motion"], a["caption"]) == (b["object"], b["colour"], b["motion"],
                                                                         b["caption"])  # fmt: skip
        if a["background"] == "plain":  # the object's pixels (the plain background is 24 grey): 4 times as many
            area = [float((np.abs(item["video"][0].astype(int) - 24).max(-1) > 0).sum()) for item in (a, b)]
            assert 3.0 < area[1] / area[0] < 5.0, (a["object"], area)
        if a["motion"] != "bouncing":  # and they move the same way
            assert judge_strict(b["video"], b["colour"], b["motion"]).direction_ok


def test_transposed_world_swaps_height_and_width_and_keeps_captions():
    plain, swapped = ToyWorld("train", length=3, seed=2), ToyWorld("train", length=3, seed=2, transpose=True)
    for i in range(3):
        a, b = plain[i], swapped[i]
        assert np.array_equal(b["video"], a["video"].transpose(0, 2, 1, 3)) and b["caption"] == a["caption"]
    world = ToyWorld("train", length=200, seed=2, transpose=True)
    item = world[next(i for i in range(200) if world.spec(i).motion == "up")]
    dy, dx = (lambda c: c[-1] - c[0])(_centroids(item["video"], item["colour"]))
    assert dx < -8 and abs(dy) < 1  # "up" now moves left on screen


def test_world_restricted_to_some_motions_has_only_those():
    world = ToyWorld("train", length=300, seed=1, motions=("left", "right", "up", "down"))
    assert {world.spec(i).motion for i in range(300)} == {"left", "right", "up", "down"}
    full = ToyWorld("train", length=300, seed=1)
    assert "bouncing" in {full.spec(i).motion for i in range(300)}  # (so the check above can fail)
    assert {k[2] for k in ToyWorld("heldout", motions=("bouncing",)).combos} == {"bouncing"}
    for bad in ((), ("left", "sideways")):
        with pytest.raises(ValueError, match="motions="):
            ToyWorld(motions=bad)


def test_shape_share_sets_the_mix_of_solid_shapes_and_digits():
    def shapes(world):
        return sum(world.spec(i).object in SHAPES for i in range(400))

    assert 60 < shapes(ToyWorld("train", length=400, seed=1)) < 120  # 3 objects of 13 by default
    assert 170 < shapes(ToyWorld("train", length=400, seed=1, shape_share=0.5)) < 230
    assert shapes(ToyWorld("train", length=400, seed=1, shape_share=1.0)) == 400
    assert shapes(ToyWorld("train", length=400, seed=1, shape_share=0.0)) == 0
    heldout = ToyWorld("heldout", length=50, seed=1, shape_share=1.0)  # still only held-out combinations
    assert {heldout.spec(i).combo for i in range(50)} <= HELDOUT_COMBOS
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(DSDNInputError, match="shape_share"):
            ToyWorld(shape_share=bad)
