"""Early steps: stream sync combines the streams with ``early_coherence`` during the first ``early_until`` of
the steps, with ``motion_coherence`` after (the pipeline, its defaults, the CLI and the sweep)."""

import json

import pytest
import torch
from conftest import agrees, gen_kwargs
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.evaluation import sweep

runner = CliRunner()
KW = dict(stream_sync=1.0, motion_coherence=0.5, num_frames=4, num_inference_steps=4, output_type="latent")


def gammas_per_step(pipe, **kw) -> list[float]:
    """The γ each step's stream sync used, in step order."""
    seen = []
    real = pipe._synced_noise

    def spy(x, eps_c, eps_m, t, index, gamma, *args, **kwargs):
        seen.append((index, gamma))
        return real(x, eps_c, eps_m, t, index, gamma, *args, **kwargs)

    pipe._synced_noise = spy
    try:
        pipe("a red ball", **gen_kwargs(**{**KW, **kw}))
    finally:
        del pipe._synced_noise
    return [g for _, g in sorted(seen)]


@pytest.mark.slow
def test_early_steps_sync_with_their_own_gamma_and_the_rest_with_motion_coherence(pipe):
    assert gammas_per_step(pipe) == [0.5] * 4  # none by default
    assert gammas_per_step(pipe, early_coherence=1.0, early_until=0.5) == [1.0, 1.0, 0.5, 0.5]
    assert gammas_per_step(pipe, early_coherence=0.75, early_until=0.2) == [0.75, 0.5, 0.5, 0.5]  # round(0.8) = 1
    assert gammas_per_step(pipe, early_coherence=0.0, early_until=1.0) == [0.0] * 4


@pytest.mark.slow
def test_no_early_steps_sample_exactly_as_before_and_early_ones_change_the_clip(pipe):
    before = pipe("a red ball", **gen_kwargs(**KW)).frames
    assert agrees(pipe("a red ball", early_coherence=1.0, early_until=0.0, **gen_kwargs(**KW)).frames, before)
    assert agrees(pipe("a red ball", early_coherence=0.5, early_until=0.5, **gen_kwargs(**KW)).frames, before)
    early = pipe("a red ball", early_coherence=1.0, early_until=0.5, **gen_kwargs(**KW)).frames
    assert torch.isfinite(early).all() and not agrees(early, before)


@pytest.mark.parametrize("kw,name", [(dict(early_until=1.5), "early_until"), (dict(early_until=float("nan")), "early_until"),
                                     (dict(early_coherence=-0.1), "early_coherence"),
                                     (dict(early_until=0.5, stream_sync=0.0), "early_until")])  # fmt: skip
def test_pipeline_refuses_bad_early_steps(pipe, kw, name):
    with pytest.raises(DSDNInputError, match=name):
        pipe("a red ball", **gen_kwargs(**kw))


@pytest.mark.slow
def test_the_models_early_steps_are_saved_and_give_way_when_the_call_turns_stream_sync_off(pipe, tmp_path):
    assert pipe.sampling_settings(motion_coherence=0.3)["early_coherence"] == 0.3  # none saved: the call's γ
    pipe.adapter.register_to_config(stream_sync=1.0, early_coherence=0.75, early_until=0.2)
    pipe.save_pretrained(tmp_path / "m")
    loaded = type(pipe).from_pretrained(tmp_path / "m")
    loaded.set_progress_bar_config(disable=True)
    settings = loaded.sampling_settings()
    assert (settings["early_coherence"], settings["early_until"]) == (0.75, 0.2)
    assert loaded.sampling_settings(motion_coherence=0.0)["early_coherence"] == 0.0  # γ asked: at every step
    assert loaded.sampling_settings(motion_coherence=0.0, early_coherence=0.9)["early_coherence"] == 0.9
    assert loaded.sampling_settings(stream_sync=0.0)["early_until"] == 0.0  # the default follows sync
    kw = dict(stream_sync=0.0, num_frames=4, num_inference_steps=2, output_type="latent")
    assert torch.isfinite(loaded("a red ball", **gen_kwargs(**kw)).frames).all()


@pytest.mark.slow
def test_generate_records_the_early_steps_in_the_sidecar(trained_model_dir, tmp_path):
    out = tmp_path / "clip.gif"
    res = runner.invoke(app, ["generate", "a red ball", "--model", str(trained_model_dir), "--out", str(out),
                              "--frames", "4", "--steps", "2", "--stream-sync", "1", "--early-coherence", "0.9",
                              "--early-until", "0.5", "-q"], catch_exceptions=False)  # fmt: skip
    assert res.exit_code == 0, res.output
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert (sidecar["early_coherence"], sidecar["early_until"]) == (0.9, 0.5)


def test_sweep_crosses_early_steps_without_repeating_a_setting(monkeypatch):
    judged = []

    def fake_evaluate(pipe, prompts, **kw):
        judged.append({k: kw[k] for k in ("motion_coherence", "stream_sync", "early_coherence", "early_until")})
        return {"strict": {"clean": 0.0}, "records": []}

    monkeypatch.setattr(sweep, "evaluate_prompts", fake_evaluate)
    grid = {"combiner": ["least_squares"], "motion_coherence": [0.5], "stream_sync": [1.0], "shared_noise": [0.8],
            "carry_from": [0.8], "early_coherence": [0.75, 1.0], "early_until": [0.0, 0.2],
            "motion_guidance_scale": [15.0], "guidance_scale": [7.5]}  # fmt: skip
    results = sweep.sweep_sampling(None, ["a red circle moving right"], grid)
    assert judged == [
        {"motion_coherence": 0.5, "stream_sync": 1.0, "early_coherence": 0.5, "early_until": 0.0},  # no early steps
        {"motion_coherence": 0.5, "stream_sync": 1.0, "early_coherence": 0.75, "early_until": 0.2},
        {"motion_coherence": 0.5, "stream_sync": 1.0, "early_coherence": 1.0, "early_until": 0.2},
    ]
    assert [s for s, _ in results] == [{**{k: v[0] for k, v in grid.items()}, **j} for j in judged]
