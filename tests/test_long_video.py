"""Long videos (``context_frames``, ``dsdn generate --context-frames``): overlapping windows fused at every step."""

import json

import pytest
import torch
from conftest import SIZE, assert_frames_differ, assert_same_frames, gen_kwargs, make_pipeline, perturb_trained_parts_
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.long_video import ContextWindows, window_starts, window_weights


@pytest.mark.parametrize("frames, length, stride", [(64, 8, 4), (20, 8, 6), (9, 8, 4), (8, 8, 4), (5, 8, 2)])
def test_windows_cover_every_frame_and_end_on_the_last(frames, length, stride):
    starts = window_starts(frames, length, stride)
    covered = {f for s in starts for f in range(s, min(s + length, frames))}
    assert covered == set(range(frames)) and starts[0] == 0
    assert starts[-1] + min(length, frames) == frames
    assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


def test_pyramid_weights_peak_mid_window():
    assert window_weights(6).tolist() == [1, 2, 3, 3, 2, 1]
    assert window_weights(4, "flat").tolist() == [1, 1, 1, 1]


def test_fused_prediction_is_the_weighted_mean_over_the_windows_that_hold_a_frame():
    windows = ContextWindows(10, 4, 2)
    seen = []

    def denoiser(z, m, scale):  # each window predicts its own first frame's index everywhere
        seen.append(z.shape[2])
        first = z[0, 0, 0, 0, 0]
        return torch.full_like(z, float(first)) * scale, torch.full_like(m, 1.0)

    z = torch.arange(10.0).view(1, 1, 10, 1, 1).expand(1, 2, 10, 3, 3).contiguous()
    eps_c, eps_m = windows(denoiser, z, z.clone(), 1.0)
    assert seen == [4] * len(windows) and len(windows) == 4  # starts 0, 2, 4, 6
    w = window_weights(4)
    expect_3 = (0 * w[3] + 2 * w[1]) / (w[3] + w[1])  # frame 3: last of window 0, second of window 2
    assert torch.allclose(eps_c[0, 0, 3], torch.full((3, 3), float(expect_3)))
    assert torch.equal(eps_m, torch.ones_like(eps_m))  # equal predictions fuse to themselves


def test_later_frames_reuse_the_first_windows_noise_shuffled():
    windows = ContextWindows(12, 4, 2)
    x = torch.randn(2, 3, 12, 4, 4, generator=torch.Generator().manual_seed(0))
    out = windows.shuffle_noise(x, torch.Generator().manual_seed(1))
    assert torch.equal(out[:, :, :4], x[:, :, :4])
    firsts = [x[:, :, k] for k in range(4)]
    for f in range(4, 12):  # every later frame is one of the first window's noises
        assert any(torch.equal(out[:, :, f], g) for g in firsts)
    assert torch.equal(out, windows.shuffle_noise(x, torch.Generator().manual_seed(1)))


@pytest.mark.slow
def test_pipeline_samples_past_the_motion_streams_frame_limit_only_in_windows():
    pipe = make_pipeline(seed=2)
    perturb_trained_parts_(pipe, seed=3)
    limit = pipe.adapter.config.motion_frame_positions
    long = dict(num_frames=limit + 4, num_inference_steps=2)
    with pytest.raises(DSDNInputError, match="num_frames"):
        pipe("a red ball", **gen_kwargs(**long))
    a = pipe("a red ball", context_frames=4, context_stride=3, **gen_kwargs(**long)).frames
    assert a.shape == (1, limit + 4, SIZE, SIZE, 3)
    assert_same_frames(a, pipe("a red ball", context_frames=4, context_stride=3, **gen_kwargs(**long)).frames)
    assert_frames_differ(a, pipe("a red ball", context_frames=4, context_stride=2, **gen_kwargs(**long)).frames)
    too_long = dict(context_frames=limit + 1)
    for bad in (dict(context_frames=1), dict(context_frames=4, context_stride=5), dict(context_stride=2), too_long):
        with pytest.raises(DSDNInputError, match="context_"):
            pipe("a red ball", **{**gen_kwargs(), **bad})


@pytest.mark.slow
def test_a_window_as_long_as_the_clip_is_one_pass():
    pipe = make_pipeline(seed=2)
    one = pipe("a red ball", **gen_kwargs()).frames
    assert_same_frames(one, pipe("a red ball", context_frames=4, **gen_kwargs()).frames)


@pytest.mark.slow
def test_cli_long_clip_needs_windows_and_records_them(trained_model_dir, tmp_path):
    runner = CliRunner()
    cfg = json.loads((trained_model_dir / "config.json").read_text())
    frames = str(cfg["motion_frame_positions"] + 2)
    common = ["--model", str(trained_model_dir), "--frames", frames, "--height", "16", "--width", "16", "--steps", "1",
              "-q"]  # fmt: skip
    res = runner.invoke(app, ["generate", "a red ball", "--out", str(tmp_path / "x.mp4"), *common])
    assert res.exit_code == 2 and "--context-frames" in res.output and not (tmp_path / "x.mp4").exists()
    out = tmp_path / "long.mp4"
    res = runner.invoke(app, ["generate", "a red ball", "--context-frames", "4", "--context-anchor", "--out", str(out),
                              *common])  # fmt: skip
    assert res.exit_code == 0, res.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["context_frames"] == 4 and sidecar["frames"] == int(frames) and sidecar["context_anchor"] is True


def test_an_anchored_window_reads_the_clips_first_frame_and_drops_its_prediction_for_it():
    windows = ContextWindows(10, 4, 2, anchor=True)
    firsts, lengths = [], []

    def denoiser(z, m):
        firsts.append(float(z[0, 0, 0, 0, 0]))
        lengths.append(z.shape[2])
        return z.clone(), m.clone()  # each frame predicts its own index: fusing must give the index back

    z = torch.arange(10.0).view(1, 1, 10, 1, 1).expand(1, 2, 10, 3, 3).contiguous()
    eps_c, eps_m = windows(denoiser, z, z.clone())
    assert firsts == [0.0] * 4 and lengths == [4, 5, 5, 5]  # frame 1 leads every window; later ones are a frame longer
    assert torch.allclose(eps_c, z) and torch.allclose(eps_m, z)


def test_bad_windows_are_refused_by_the_config_before_any_model_loads(tmp_path):
    from dsdn.generate import GenerateConfig

    ok = dict(prompt="a red circle bouncing", out=str(tmp_path / "x.mp4"), frames=40)
    GenerateConfig(**ok, context_frames=31, context_anchor=True)  # 31 + frame 1: the shipped model's 32 positions
    for bad, name in ((dict(context_frames=8, context_stride=0), "context_stride"),
                      (dict(context_frames=32, context_anchor=True), "context_frames")):  # fmt: skip
        with pytest.raises(DSDNInputError, match=name):
            GenerateConfig(**ok, **bad)


def test_looping_windows_wrap_so_the_last_frame_is_denoised_before_the_first():
    windows = ContextWindows(10, 4, 2, loop=True)
    orders = []

    def denoiser(z, m):
        orders.append([int(v) for v in z[0, 0, :, 0, 0]])
        return z.clone(), torch.ones_like(m)  # each frame predicts its own index: fusing must give the index back

    z = torch.arange(10.0).view(1, 1, 10, 1, 1).expand(1, 2, 10, 3, 3).contiguous()
    eps_c, eps_m = windows(denoiser, z, z.clone())
    assert orders == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9], [8, 9, 0, 1]]
    assert torch.allclose(eps_c, z) and torch.equal(eps_m, torch.ones_like(eps_m))
    # without loop the same clip's windows stop at its end
    assert ContextWindows(10, 4, 2).starts == [0, 2, 4, 6]


@pytest.mark.slow
def test_a_looping_clip_differs_from_an_open_one_and_needs_windows(tmp_path):
    from dsdn.generate import GenerateConfig

    pipe = make_pipeline(seed=2)
    perturb_trained_parts_(pipe, seed=3)
    kwargs = dict(num_frames=6, context_frames=4, context_stride=2)
    looped = pipe("a red ball", loop=True, **gen_kwargs(**kwargs)).frames
    assert_same_frames(looped, pipe("a red ball", loop=True, **gen_kwargs(**kwargs)).frames)
    assert_frames_differ(looped, pipe("a red ball", **gen_kwargs(**kwargs)).frames)
    for bad in (dict(num_frames=4), dict(num_frames=4, context_frames=4)):  # no windows; one window, nothing to wrap
        with pytest.raises(DSDNInputError, match="loop"):
            pipe("a red ball", loop=True, **gen_kwargs(**bad))
    ok = dict(prompt="a red circle bouncing", out=str(tmp_path / "x.mp4"), frames=16)
    GenerateConfig(**ok, context_frames=8, loop=True)
    for bad in (dict(), dict(context_frames=16)):
        with pytest.raises(DSDNInputError, match="loop=True is invalid: needs --context-frames below --frames"):
            GenerateConfig(**ok, loop=True, **bad)


@pytest.mark.slow
def test_a_looping_clip_syncs_and_combines_its_streams_on_a_circle(monkeypatch):
    import dsdn.motion_codec as codec

    pipe = make_pipeline(seed=2)
    perturb_trained_parts_(pipe, seed=3)
    seen = []
    real = codec.combine_motion

    def spy(*args, **kwargs):
        seen.append(kwargs.get("circular", args[5] if len(args) > 5 else False))
        return real(*args, **kwargs)

    monkeypatch.setattr(codec, "combine_motion", spy)  # stream sync's (through agree_streams) and the final one
    monkeypatch.setattr("dsdn.pipeline.combine_motion", spy)
    kwargs = dict(num_frames=6, context_frames=4, context_stride=2, stream_sync=1.0, output_type="latent")
    for loop in (True, False):
        seen.clear()
        pipe("a red ball", loop=loop, **gen_kwargs(**kwargs))
        assert len(seen) == 3 + 1 and set(seen) == {loop}  # one sync per step (3 steps), then the clip's combine
