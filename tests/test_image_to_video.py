"""Image-to-video (``DSDNPipeline(image=...)``, ``dsdn generate --image``): frame 1 is held at the picture."""

import json

import numpy as np
import pytest
import torch
from conftest import SIZE, assert_frames_differ, assert_same_frames, gen_kwargs, make_pipeline, perturb_trained_parts_
from diffusers import DDIMScheduler
from PIL import Image
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.options import IMAGE_EARLY_COHERENCE


def synced_pipe():
    pipe = make_pipeline(seed=2)
    perturb_trained_parts_(pipe, seed=3)
    pipe.adapter.register_to_config(stream_sync=1.0)
    return pipe


def picture(seed: int = 0, size=(SIZE, SIZE)) -> np.ndarray:
    """A bright square on a dark ground, ``(H, W, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    im = (rng.random((*size, 3)) * 60).astype(np.uint8)
    im[size[0] // 4 : size[0] // 2, size[1] // 4 : size[1] // 2] = (230, 40, 40)
    return im


@pytest.mark.slow
def test_frame_one_is_the_pictures_latent():
    pipe = synced_pipe()
    pipe.scheduler = DDIMScheduler.from_config(
        pipe.scheduler.config, set_alpha_to_one=True
    )  # the last step lands on x0
    image = picture()
    key = pipe.first_frame_latents(image, 1, 1, SIZE, SIZE, "cpu")[0, :, 0]
    latents = pipe("a red ball", image=image, **gen_kwargs(output_type="latent")).frames[0]  # (C, F, h, w)
    free = pipe("a red ball", **gen_kwargs(output_type="latent")).frames[0]
    gap_held, gap_free = (latents[:, 0] - key).abs().max(), (free[:, 0] - key).abs().max()
    assert gap_held < 1e-3 < gap_free  # held at the picture; without it frame 1 is something else


@pytest.mark.slow
def test_same_picture_and_seed_give_the_same_clip_another_picture_another():
    pipe = synced_pipe()
    a = pipe("a red ball", image=picture(0), **gen_kwargs()).frames
    assert_same_frames(a, pipe("a red ball", image=Image.fromarray(picture(0)), **gen_kwargs()).frames)
    assert_frames_differ(a, pipe("a red ball", image=picture(1), **gen_kwargs()).frames)


@pytest.mark.slow
def test_pictures_of_another_size_are_resized_and_one_is_given_per_prompt():
    pipe = synced_pipe()
    big = Image.fromarray(picture(size=(40, 30))).convert("RGBA")
    tensor = torch.from_numpy(picture(1)).permute(2, 0, 1).float() / 255
    frames = pipe(["a red ball", "a blue ball"], image=[big, tensor], **gen_kwargs()).frames
    assert frames.shape == (2, 4, SIZE, SIZE, 3)
    one = pipe(["a red ball", "a blue ball"], image=big, num_videos_per_prompt=2, **gen_kwargs()).frames
    assert one.shape == (4, 4, SIZE, SIZE, 3)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(image=[picture(0), picture(1)]),  # two pictures for one prompt
        dict(image=np.zeros((SIZE, SIZE))),  # no colour channels
        dict(image="picture.png"),  # a path: the CLI reads files, the pipeline takes pictures
        dict(image=picture(0), stream_sync=0.0),  # frame 1 is held through stream sync
    ],
)
@pytest.mark.slow
def test_bad_pictures_are_one_line_errors(kwargs):
    pipe = synced_pipe()
    with pytest.raises(DSDNInputError, match="image") as e:
        pipe("a red ball", **{**gen_kwargs(), **kwargs})
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_cli_generate_from_a_picture_records_it_and_refuses_a_bad_one(trained_model_dir, tmp_path):
    runner = CliRunner()
    png = tmp_path / "first.png"
    Image.fromarray(picture(size=(24, 24))).save(png)
    out = tmp_path / "clip.mp4"
    common = ["--model", str(trained_model_dir), "--frames", "4", "--height", "16", "--width", "16", "--steps", "2",
              "--stream-sync", "1", "-q"]  # fmt: skip
    res = runner.invoke(app, ["generate", "a red ball", "--image", str(png), "--out", str(out), *common])
    assert res.exit_code == 0, res.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["image"] == str(png) and sidecar["early_coherence"] == IMAGE_EARLY_COHERENCE
    (tmp_path / "notes.txt").write_text("not a picture")
    for bad in ("missing.png", str(tmp_path / "notes.txt")):
        res = runner.invoke(app, ["generate", "a red ball", "--image", bad, "--out", str(tmp_path / "x.mp4"), *common])
        assert res.exit_code != 0 and "image=" in res.output and "Traceback" not in res.output
        assert not (tmp_path / "x.mp4").exists()


@pytest.mark.slow
def test_a_picture_makes_the_early_steps_follow_the_motion_stream_unless_the_call_asks_for_a_gamma():
    pipe = synced_pipe()
    pipe.adapter.register_to_config(early_coherence=0.75, early_until=0.5)
    assert pipe.sampling_settings()["early_coherence"] == 0.75
    assert pipe.sampling_settings(image=True)["early_coherence"] == IMAGE_EARLY_COHERENCE == 1.0
    assert pipe.sampling_settings(image=True, early_coherence=0.5)["early_coherence"] == 0.5
    assert pipe.sampling_settings(image=True, motion_coherence=0.3)["early_coherence"] == 0.3
    a = pipe("a red ball", image=picture(0), **gen_kwargs()).frames
    assert_same_frames(a, pipe("a red ball", image=picture(0), early_coherence=1.0, **gen_kwargs()).frames)
    assert_frames_differ(a, pipe("a red ball", image=picture(0), early_coherence=0.75, **gen_kwargs()).frames)


@pytest.mark.slow
def test_a_picture_smooths_object_carrys_path_and_text_alone_does_not(monkeypatch):
    import dsdn.pipeline
    from dsdn.carry import ObjectCarry
    from dsdn.options import IMAGE_CARRY_SMOOTH

    made = []

    class Recorded(ObjectCarry):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self.smooth)

    monkeypatch.setattr(dsdn.pipeline, "ObjectCarry", Recorded)
    pipe = synced_pipe()
    pipe("a red ball", image=picture(0), carry_from=0.5, **gen_kwargs())
    pipe("a red ball", carry_from=0.5, **gen_kwargs())
    assert made == [IMAGE_CARRY_SMOOTH, None]
