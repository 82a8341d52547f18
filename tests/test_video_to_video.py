"""Video-to-video (``DSDNPipeline(video=..., strength=...)``, ``dsdn generate --video``): SDEdit on both streams."""

import json

import numpy as np
import pytest
import torch
from conftest import SIZE, assert_frames_differ, assert_same_frames, gen_kwargs, make_pipeline, perturb_trained_parts_
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.video_io import save_video


def pipe_():
    pipe = make_pipeline(seed=2)
    perturb_trained_parts_(pipe, seed=3)
    return pipe


def clip(seed: int = 0, frames: int = 4, size: int = SIZE) -> np.ndarray:
    """A bright square moving right over a dark ground, ``(F, H, W, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    out = (rng.random((frames, size, size, 3)) * 60).astype(np.uint8)
    for f in range(frames):
        out[f, size // 4 : size // 2, f * 2 : f * 2 + size // 4] = (230, 40, 40)
    return out


@pytest.mark.slow
def test_a_low_strength_keeps_the_source_and_runs_that_share_of_the_steps():
    pipe = pipe_()
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, set_alpha_to_one=True)
    source = pipe.source_video_latents(clip(), 1, 4, SIZE, SIZE, "cpu")[0]  # (C, F, h, w)
    steps = []
    kept = pipe("a red ball", video=clip(), strength=0.25, callback_on_step_end=lambda p, i, t, kw: steps.append(i) or {},
                **gen_kwargs(output_type="latent", num_inference_steps=8)).frames[0]  # fmt: skip
    free = pipe("a red ball", **gen_kwargs(output_type="latent", num_inference_steps=8)).frames[0]
    assert len(steps) == 2  # round(0.25 · 8)
    assert (kept - source).abs().mean() < 0.5 * (free - source).abs().mean()


@pytest.mark.slow
def test_same_source_and_seed_give_the_same_clip_another_source_another():
    pipe = pipe_()
    a = pipe("a red ball", video=clip(0), strength=0.6, **gen_kwargs()).frames
    frames = [torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in clip(0)]  # a list of (3, H, W) tensors
    assert_same_frames(a, pipe("a red ball", video=frames, strength=0.6, **gen_kwargs()).frames)
    assert_frames_differ(a, pipe("a red ball", video=clip(1), strength=0.6, **gen_kwargs()).frames)
    assert_frames_differ(a, pipe("a red ball", video=clip(0), strength=0.9, **gen_kwargs()).frames)


def test_a_longer_larger_source_is_cut_and_resized_and_multistep_samplers_start_part_way():
    pipe = pipe_()
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    frames = pipe(["a red ball", "a blue ball"], video=clip(0, frames=6, size=24), strength=0.5,
                  **gen_kwargs(num_inference_steps=4)).frames  # fmt: skip
    assert frames.shape == (2, 4, SIZE, SIZE, 3) and np.isfinite(frames).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(video=clip(), strength=0.0),
        dict(video=clip(), strength=1.5),
        dict(video=clip(frames=3)),  # fewer frames than num_frames
        dict(video=clip()[0]),  # one picture, not a clip
        dict(video="clip.mp4"),  # a path: the CLI reads files, the pipeline takes frames
        dict(video=clip(), image=clip()[0], stream_sync=1.0),  # image-to-video and video-to-video at once
    ],
)
def test_bad_sources_are_one_line_errors(kwargs):
    pipe = pipe_()
    with pytest.raises(DSDNInputError, match="video|strength") as e:
        pipe("a red ball", **{**gen_kwargs(), **kwargs})
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_cli_generate_from_a_clip_records_it_and_refuses_a_bad_one(trained_model_dir, tmp_path):
    runner = CliRunner()
    source = save_video(clip(frames=5, size=24), tmp_path / "source.mp4", fps=8)
    out = tmp_path / "clip.mp4"
    common = [
        "--model",
        str(trained_model_dir),
        "--frames",
        "4",
        "--height",
        "16",
        "--width",
        "16",
        "--steps",
        "2",
        "-q",
    ]
    res = runner.invoke(app, ["generate", "a red ball", "--video", str(source), "--strength", "0.5", "--out", str(out),
                              *common])  # fmt: skip
    assert res.exit_code == 0, res.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["source_video"] == str(source) and sidecar["strength"] == 0.5
    (tmp_path / "notes.txt").write_text("not a video")
    short = save_video(clip(frames=2), tmp_path / "short.mp4", fps=8)
    for bad in (["--video", "missing.mp4"], ["--video", str(tmp_path / "notes.txt")], ["--video", str(short)],
                ["--video", str(source), "--strength", "0"]):  # fmt: skip
        res = runner.invoke(app, ["generate", "a red ball", *bad, "--out", str(tmp_path / "x.mp4"), *common])
        assert res.exit_code != 0 and "Traceback" not in res.output
        assert ("video=" in res.output or "strength=" in res.output) and not (tmp_path / "x.mp4").exists()
