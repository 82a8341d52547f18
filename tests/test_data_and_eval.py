"""Video folders (real files, corrupt ones skipped) and the pixel judges of toy-world clips."""

import logging

import numpy as np
import pytest

from dsdn.data import ClipSpec, ToyWorld, VideoFolder, next_readable, render_clip, write_video_folder
from dsdn.errors import DSDNInputError
from dsdn.evaluation.toy import (
    EVALUATION_PROMPTS,
    SHAPE_KEPT,
    direction_of,
    judge_clip,
    parse_prompt,
    selection_prompts,
    shape_kept,
    toy_prompts,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    write_video_folder(ToyWorld("train", length=4, seed=1), root)
    return root


@pytest.mark.slow
def test_written_folder_reads_back_as_the_same_clips(folder):
    ds = VideoFolder(folder, num_frames=8, size=64)
    world = ToyWorld("train", length=4, seed=1)
    assert len(ds) == 4
    for i in range(4):
        item = ds[i]
        assert item["caption"] == world[i]["caption"]
        assert item["video"].shape == (8, 64, 64, 3)
        # H.264 is lossy, but the frames are the same picture
        assert np.abs(item["video"].astype(float) - world[i]["video"]).mean() < 6


def test_resize_center_crop_and_stride(folder):
    item = VideoFolder(folder, num_frames=3, frame_stride=2, size=32)[0]
    assert item["video"].shape == (3, 32, 32, 3)


def test_corrupt_and_missing_clips_are_skipped_counted_and_logged(folder, tmp_path, caplog):
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 definitely not a video")
    rows = (folder / "captions.csv").read_text().splitlines()
    csv = "\n".join(rows[:2] + ["broken.mp4,a broken clip,,,,,,", "missing.mp4,a missing clip,,,,,,"] + rows[2:])
    captions = tmp_path / "captions.csv"
    captions.write_text(csv + "\n")
    ds = VideoFolder(folder, captions=captions)
    with caplog.at_level(logging.WARNING):
        assert ds.get(1) is None and ds.get(2) is None
        assert ds.get(1) is None  # logged and counted once
    assert ds.skipped == 2
    assert sum("skipping clip" in r.message for r in caplog.records) == 2
    assert next_readable(ds, 1)["caption"] == ds[3]["caption"]


def test_folder_of_only_bad_clips_fails_clearly_instead_of_looping(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"junk")
    (tmp_path / "captions.jsonl").write_text('{"video": "a.mp4", "caption": "junk"}\n')
    ds = VideoFolder(tmp_path)
    with pytest.raises(DSDNInputError, match="none of the 1 clips"):
        next_readable(ds, 0)


def test_captions_file_problems_are_named(tmp_path):
    (tmp_path / "captions.csv").write_text("file,text\na.mp4,hello\n")
    with pytest.raises(DSDNInputError, match="no column 'video'.*file"):
        VideoFolder(tmp_path)
    with pytest.raises(DSDNInputError, match="not a folder"):
        VideoFolder(tmp_path / "nope")


def test_rows_without_a_caption_are_skipped_never_trained_on_as_none(tmp_path, caplog):
    (tmp_path / "captions.jsonl").write_text(
        '{"video": "a.mp4", "caption": "a red ball"}\n{"video": "b.mp4", "caption": null}\n'
        '{"video": "c.mp4"}\n{"video": "d.mp4", "caption": "   "}\n{"caption": "no video"}\n'
    )
    with caplog.at_level("WARNING"):
        ds = VideoFolder(tmp_path)
    assert ds.items == [("a.mp4", "a red ball")]
    assert "skipped 4 row(s) without a video or a caption" in caplog.text
    (tmp_path / "captions.jsonl").write_text('{"video": "b.mp4", "caption": null}\n')
    with pytest.raises(DSDNInputError, match="no row has both a video and a caption"):
        VideoFolder(tmp_path)


def test_paths_outside_the_folder_are_refused(tmp_path, caplog):
    (tmp_path / "captions.csv").write_text("video,caption\n../../etc/passwd,x\n")
    ds = VideoFolder(tmp_path)
    assert ds.get(0) is None and ds.skipped == 1


@pytest.mark.parametrize("motion", ["left", "right", "up", "down"])
@pytest.mark.parametrize("colour", ["red", "green", "blue", "yellow", "white"])
def test_judge_reads_direction_and_colour_of_real_clips(motion, colour):
    for obj, bg in (("circle", "plain"), ("digit four", "textured")):
        j = judge_clip(render_clip(ClipSpec(obj, colour, motion, "slowly", bg, seed=2)))
        assert (j.direction, j.colour, j.visible_every_frame) == (motion, colour, True)


def test_shape_kept_is_one_for_real_motion_and_low_for_a_fading_object_with_a_misplaced_copy():
    for motion, bg in (("left", "plain"), ("down", "textured"), ("bouncing", "plain")):
        assert shape_kept(render_clip(ClipSpec("square", "red", motion, "quickly", bg, seed=3))) == 1.0
    # Soft digit strokes over a textured background: near 1, well above the bar.
    assert shape_kept(render_clip(ClipSpec("digit four", "blue", "right", "slowly", "textured", seed=2))) >= SHAPE_KEPT
    # What the streams' disagreement looks like: the object stays and fades, a misplaced copy moves in.
    clip = render_clip(ClipSpec("circle", "white", "right", "slowly", "plain", seed=1)).astype(np.float32)
    ghost = np.roll(render_clip(ClipSpec("digit one", "white", "up", "slowly", "plain", seed=5)), 20, axis=2)
    fade = np.linspace(1.0, 0.3, 8)[:, None, None, None]
    appear = np.linspace(0.0, 1.0, 8)[:, None, None, None]
    mixed = np.maximum(clip[:1] * fade, ghost * appear).clip(0, 255).astype(np.uint8)
    assert judge_clip(mixed).shape_kept < SHAPE_KEPT
    assert shape_kept(np.full((8, 64, 64, 3), 24, np.uint8)) == 0.0  # no object at all


def test_judge_static_and_empty_clips():
    still = np.repeat(render_clip(ClipSpec("square", "red", "left", seed=1))[:1], 8, axis=0)
    assert judge_clip(still).direction is None
    empty = np.full((8, 64, 64, 3), 24, np.uint8)
    j = judge_clip(empty)
    assert (j.colour, j.visible_every_frame, j.min_object_pixels) == (None, False, 0)
    assert direction_of(np.array([0.1, -0.05])) is None


def test_prompt_sets_and_parsing():
    train = toy_prompts("train", 48)
    assert len(set(train)) == 48 and all(parse_prompt(p) for p in train)
    held = toy_prompts("heldout", 12)
    assert {tuple(parse_prompt(p).values()) for p in held} <= {
        ("circle", "blue", "up"), ("square", "red", "left"), ("digit three", "green", "right"),
        ("digit seven", "white", "down"),
    }  # fmt: skip
    assert not {tuple(parse_prompt(p).values()) for p in train} & {tuple(parse_prompt(p).values()) for p in held}
    assert parse_prompt("the white digit seven falls") == {"object": "digit seven", "colour": "white", "motion": "down"}


def test_selection_prompts_never_repeat_an_evaluation_prompt():
    evaluation = toy_prompts("train", EVALUATION_PROMPTS)
    assert toy_prompts("train", 48) == evaluation[:48]  # the reported evaluations are prefixes of one order
    chosen = selection_prompts(32)
    assert len(set(chosen)) == 32 and all(parse_prompt(p) for p in chosen)
    assert not set(chosen) & set(evaluation)
    assert set(toy_prompts("train", 32, seed=1)) & set(evaluation)  # without the exclusion they would overlap
    assert selection_prompts(16) == chosen[:16] == selection_prompts(16)  # deterministic, prefixes too
    held = {tuple(parse_prompt(p).values()) for p in toy_prompts("heldout", 12)}
    assert not {tuple(parse_prompt(p).values()) for p in chosen} & held
    fewer = toy_prompts("train", 40, exclude=evaluation[:3])
    assert len(set(fewer)) == 40 and not set(fewer) & set(evaluation[:3])


def test_direction_by_motion_counts_and_names_the_usual_mistake():
    from dsdn.evaluation.toy import direction_by_motion, format_direction_by_motion

    records = [{"want_direction": "down", "direction": d} for d in ("up", "up", "down", None)]
    records += [{"want_direction": "left", "direction": d} for d in ("left", "left", "up")]
    by = direction_by_motion(records)
    assert by == {"down": {"clips": 4, "right": 1, "judged": {"up": 2, "down": 1, "none": 1}},
                  "left": {"clips": 3, "right": 2, "judged": {"left": 2, "up": 1}}}  # fmt: skip
    # a wrong judgement is named only where it beats the right one
    assert format_direction_by_motion(by) == "down 1/4 (most often up, 2), left 2/3"
    # the same breakdown of another judgement (a stream alone)
    for r, alone in zip(records, ("down", None, "down", "down", "right", "left", "left")):
        r["motion_stream_direction"] = alone
    assert format_direction_by_motion(direction_by_motion(records, "motion_stream_direction")) == ("down 3/4, left 2/3")


@pytest.mark.slow
def test_stream_directions_are_read_from_each_streams_final_latents(trained_model_dir):
    import torch

    from dsdn import DSDNPipeline
    from dsdn.evaluation.toy import evaluate_prompts

    pipe = DSDNPipeline.from_pretrained(trained_model_dir)
    pipe.set_progress_bar_config(disable=True)
    prompts = toy_prompts("train", 3)
    r = evaluate_prompts(pipe, prompts, seed=5, batch=2, num_frames=4, steps=2, progress=False, streams=True)
    for kind, gamma in (("content", 0.0), ("motion", 1.0)):
        for i, rec in enumerate(r["records"]):
            gen = torch.Generator("cpu").manual_seed(5 + i)
            video = pipe(prompts[i], num_frames=4, num_inference_steps=2, generator=gen,
                         motion_coherence=gamma).frames[0]  # fmt: skip
            j = judge_clip(video)  # the stream alone is the combiner at γ = 0 (content) or 1 (motion)
            np.testing.assert_allclose(rec[f"{kind}_stream_motion"], j.motion, atol=0.02)
            assert rec[f"{kind}_stream_direction"] == j.direction
        hits = sum(rec[f"{kind}_stream_direction"] == rec["want_direction"] for rec in r["records"])
        assert r[f"{kind}_stream_direction_acc"] == hits / 3


@pytest.mark.slow
def test_evaluate_combiners_judges_the_videos_evaluate_prompts_makes(trained_model_dir):
    from dsdn import DSDNPipeline
    from dsdn.evaluation.toy import evaluate_combiners, evaluate_prompts

    pipe = DSDNPipeline.from_pretrained(trained_model_dir)
    pipe.set_progress_bar_config(disable=True)
    prompts = toy_prompts("train", 3)
    settings = [(0.5, "causal"), (1.0, "least_squares"), (0.0, "causal")]
    kw = dict(seed=5, batch=2, num_frames=4, steps=2, progress=False)
    by_setting = evaluate_combiners(pipe, prompts, settings, **kw)
    assert list(by_setting) == settings
    for (g, c), got in by_setting.items():
        want = evaluate_prompts(pipe, prompts, motion_coherence=g, combiner=c, **kw)
        for key in ("direction_acc", "colour_acc", "visible_acc", "shape_kept_acc"):
            assert got[key] == want[key], (g, c, key)
        for a, b in zip(got["records"], want["records"]):
            assert a.keys() == b.keys() and a["prompt"] == b["prompt"] and a["seed"] == b["seed"]
            np.testing.assert_allclose(a["motion"], b["motion"], atol=1e-4)
            assert a["min_object_pixels"] == b["min_object_pixels"] and a["shape_kept"] == pytest.approx(
                b["shape_kept"]
            )
    # the settings do differ: γ = 0 is the content stream alone, γ = 1 the integrated motion
    motions = [[r["motion"] for r in by_setting[k]["records"]] for k in settings]
    assert motions[0] != motions[1] and motions[1] != motions[2]
