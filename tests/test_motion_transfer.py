"""Motion transfer (``DSDNPipeline(motion_video=...)``, ``dsdn generate --motion-from``): the prompt's content, moving
as a reference clip moves."""

import json

import pytest
import torch
from conftest import SIZE, assert_frames_differ, assert_same_frames, gen_kwargs
from diffusers import DDIMScheduler
from test_video_to_video import clip, pipe_
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.motion_codec import decompose_motion
from dsdn.video_io import save_video


@pytest.mark.slow
def test_a_held_motion_stream_ends_on_the_references_motion():
    pipe = pipe_()
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config, set_alpha_to_one=True)
    source = pipe.source_video_latents(clip(), 1, 4, SIZE, SIZE, "cpu")
    reference = decompose_motion(source, pipe.adapter.config.motion_scale)
    seen = []
    kwargs = gen_kwargs(output_type="latent", num_inference_steps=4, stream_sync=0.0, strength=1.0,
                        callback_on_step_end=lambda p, i, t, kw: seen.append(kw["motion_latents"]) or {},
                        callback_on_step_end_tensor_inputs=["motion_latents"])  # fmt: skip
    pipe("a red ball", motion_video=clip(), motion_hold=1.0, **kwargs)
    # DDIM's last step returns the clean prediction, which every held step sets to the reference's motion
    assert len(seen) == 4 and torch.allclose(seen[-1], reference, atol=1e-4)
    seen.clear()
    pipe(
        "a red ball", motion_video=clip(), motion_hold=0.0, **{**kwargs, "generator": torch.Generator().manual_seed(0)}
    )
    assert (seen[-1] - reference).abs().mean() > 0.05  # not held: the motion stream draws its own


@pytest.mark.slow
def test_motion_video_is_video_to_video_at_the_transfer_defaults_and_the_reference_matters():
    pipe = pipe_()
    moved = pipe("a red ball", motion_video=clip(0), **gen_kwargs(num_inference_steps=4)).frames
    same = pipe("a red ball", video=clip(0), strength=0.8, motion_hold=0.5, **gen_kwargs(num_inference_steps=4))
    assert_same_frames(moved, same.frames)
    assert_frames_differ(moved, pipe("a red ball", motion_video=clip(1), **gen_kwargs(num_inference_steps=4)).frames)
    free = pipe("a red ball", motion_video=clip(0), motion_hold=0.0, **gen_kwargs(num_inference_steps=4)).frames
    assert_frames_differ(moved, free)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        (dict(motion_video=clip(), video=clip()), "motion_video"),
        (dict(motion_video=clip(), motion_hold=1.5), "motion_hold"),
        (dict(motion_video=clip(), strength=0.0), "strength"),
        (dict(motion_hold=0.5), "motion_hold"),  # a hold without a source clip
        (dict(strength=0.5), "strength"),
        (dict(motion_video=clip(frames=3)), "motion_video"),  # fewer frames than num_frames
        (dict(motion_video=clip()[0]), "motion_video"),  # one picture, not a clip
    ],
)
@pytest.mark.slow
def test_bad_references_are_one_line_errors_naming_the_argument(kwargs, named):
    with pytest.raises(DSDNInputError, match=named) as e:
        pipe_()("a red ball", **{**gen_kwargs(), **kwargs})
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_cli_motion_from_records_the_reference_and_refuses_bad_ones(trained_model_dir, tmp_path):
    runner = CliRunner()
    reference = save_video(clip(frames=5, size=24), tmp_path / "reference.mp4", fps=8)
    out = tmp_path / "clip.mp4"
    common = ["--model", str(trained_model_dir), "--frames", "4", "--height", "16", "--width", "16", "--steps", "2",
              "-q"]  # fmt: skip
    res = runner.invoke(app, ["generate", "a red ball", "--motion-from", str(reference), "--out", str(out), *common])
    assert res.exit_code == 0, res.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["motion_video"] == str(reference) and sidecar["source_video"] is None
    assert (sidecar["strength"], sidecar["motion_hold"]) == (0.8, 0.5)
    short = save_video(clip(frames=2), tmp_path / "short.mp4", fps=8)
    for bad, named in ((["--motion-from", "missing.mp4"], "motion_from="), (["--motion-from", str(short)], "motion_from="),
                       (["--motion-from", str(reference), "--video", str(reference)], "--motion-from"),
                       (["--motion-hold", "0.5"], "motion_hold=")):  # fmt: skip
        res = runner.invoke(app, ["generate", "a red ball", *bad, "--out", str(tmp_path / "x.mp4"), *common])
        assert res.exit_code != 0 and "Traceback" not in res.output and named in res.output, res.output
        assert not (tmp_path / "x.mp4").exists()
