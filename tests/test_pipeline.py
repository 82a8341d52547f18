import numpy as np
import pytest
import torch
from conftest import (
    SIZE,
    agrees,
    assert_frames_differ,
    assert_same_frames,
    gen_kwargs,
    make_pipeline,
    perturb_trained_parts_,
)

from dsdn import DSDNInputError
from dsdn.schedulers import SCHEDULERS, make_scheduler


@pytest.mark.slow
def test_frames_have_requested_count_and_size(pipe):
    out = pipe("a red ball moving left", **gen_kwargs(num_frames=5, height=SIZE, width=2 * SIZE))
    assert out.frames.shape == (1, 5, SIZE, 2 * SIZE, 3)
    assert out.frames.dtype == np.float32 and 0.0 <= out.frames.min() and out.frames.max() <= 1.0


BOTH = ["latents", "motion_latents"]  # the two streams' latents, for a step-end callback


@pytest.mark.slow
def test_batch_of_prompts_and_videos_per_prompt(pipe):
    out = pipe(["a red ball", "a blue square"], num_videos_per_prompt=2, **gen_kwargs())
    assert out.frames.shape[:2] == (4, 4)


@pytest.mark.slow
def test_same_seed_same_frames_different_seed_differs(pipe):
    a = pipe("a red ball", **gen_kwargs(seed=1)).frames
    b = pipe("a red ball", **gen_kwargs(seed=1)).frames
    c = pipe("a red ball", **gen_kwargs(seed=2)).frames
    assert_same_frames(a, b)
    assert_frames_differ(a, c)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.slow
def test_every_listed_scheduler_runs(pipe, name):
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    out = pipe("a red ball", **gen_kwargs(num_inference_steps=4, output_type="pt"))
    assert out.frames.shape == (1, 4, 3, SIZE, SIZE) and torch.isfinite(out.frames).all()


@pytest.mark.slow
def test_output_types(pipe):
    pil = pipe("a ball", **gen_kwargs(output_type="pil")).frames
    assert len(pil) == 1 and len(pil[0]) == 4 and pil[0][0].size == (SIZE, SIZE)
    lat = pipe("a ball", **gen_kwargs(output_type="latent")).frames
    assert lat.shape == (1, 4, 4, SIZE // 2, SIZE // 2)


@pytest.mark.slow
def test_knobs_change_the_result_as_documented():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    ref = pipe("a red ball", **gen_kwargs(output_type="latent")).frames
    for kw in (dict(content_lora_scale=0.0), dict(motion_coherence=0.0), dict(motion_prompt="moving left"),
               dict(negative_prompt="blue"), dict(use_interaction=False), dict(combiner="least_squares")):  # fmt: skip
        assert not agrees(pipe("a red ball", **gen_kwargs(output_type="latent", **kw)).frames, ref), kw


@pytest.mark.slow
def test_motion_guidance_steers_only_the_motion_stream_and_has_a_model_default():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    seen = {}

    def run(**kw):
        cb = lambda p, i, t, kw: seen.update({k: v.clone() for k, v in kw.items()})  # noqa: E731
        out = pipe("a red ball", **gen_kwargs(output_type="latent", num_inference_steps=1, **kw),
                   callback_on_step_end=cb, callback_on_step_end_tensor_inputs=BOTH)  # fmt: skip
        return out.frames, dict(seen)

    ref, ref_state = run()
    same, same_state = run(motion_guidance_scale=7.5)  # the default is the content guidance
    assert agrees(ref, same)
    strong, strong_state = run(motion_guidance_scale=30.0)
    # after one step, only the motion latents differ: the content update does not see the motion guidance
    assert agrees(strong_state["latents"], ref_state["latents"])
    assert not agrees(strong_state["motion_latents"], ref_state["motion_latents"])
    pipe.adapter.register_to_config(motion_guidance_scale=30.0)  # a model's own default
    default, _ = run()
    assert agrees(default, strong)
    with pytest.raises(DSDNInputError, match="motion_guidance_scale"):
        run(motion_guidance_scale=float("nan"))


@pytest.mark.slow
def test_guidance_has_a_model_default_that_an_explicit_value_overrides():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)

    def run(**kw):
        return pipe("a red ball", **gen_kwargs(output_type="latent", num_inference_steps=2, **kw)).frames

    ref = run()
    assert pipe.default_guidance() == 7.5 and agrees(ref, run(guidance_scale=7.5))
    pipe.adapter.register_to_config(guidance_scale=15.0)  # a model's own default, for both streams
    assert pipe.default_guidance() == 15.0 and pipe.default_motion_guidance(pipe.default_guidance()) == 15.0
    strong = run()
    assert not agrees(strong, ref) and agrees(strong, run(guidance_scale=15.0))
    assert agrees(ref, run(guidance_scale=7.5))
    with pytest.raises(ValueError, match="guidance_scale"):
        type(pipe.adapter)(guidance_scale=-1.0)


@pytest.mark.slow
def test_combiner_has_a_model_default_that_an_explicit_value_overrides():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)

    def run(**kw):
        return pipe("a red ball", **gen_kwargs(output_type="latent", num_inference_steps=2, **kw)).frames

    assert pipe.sampling_settings()["combiner"] == "causal"
    causal = run()
    assert agrees(causal, run(combiner="causal"))
    pipe.adapter.register_to_config(combiner="least_squares")  # a model's own default
    assert pipe.sampling_settings()["combiner"] == "least_squares"
    least = run()
    assert not agrees(least, causal) and agrees(least, run(combiner="least_squares"))
    assert agrees(causal, run(combiner="causal"))
    with pytest.raises(ValueError, match="combiner"):
        type(pipe.adapter)(combiner="spline")


@pytest.mark.slow
def test_gamma_zero_is_content_only():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    seen = {}
    cb = lambda p, i, t, kw: seen.update(kw)  # noqa: E731
    out = pipe("a red ball", **gen_kwargs(output_type="latent", motion_coherence=0.0), callback_on_step_end=cb)
    assert agrees(out.frames, seen["latents"])  # by default a callback gets the content stream's latents


def test_no_guidance_runs_single_batch(pipe):
    out = pipe("a ball", **gen_kwargs(guidance_scale=1.0))
    assert out.frames.shape == (1, 4, SIZE, SIZE, 3)


def test_progress_bar_is_shown_by_default(capsys):
    pipe = make_pipeline()
    pipe.set_progress_bar_config(disable=False)
    pipe("a ball", **gen_kwargs())
    assert "3/3" in capsys.readouterr().err


BAD = [
    (dict(prompt=""), "prompt"),
    (dict(prompt="   "), "prompt"),
    (dict(prompt=3), "prompt"),
    (dict(num_frames=1), "num_frames"),
    (dict(num_frames=2.5), "num_frames"),
    (dict(height=SIZE + 2), "height"),
    (dict(width=2), "width"),
    (dict(num_inference_steps=0), "num_inference_steps"),
    (dict(guidance_scale=float("nan")), "guidance_scale"),
    (dict(content_lora_scale=float("inf")), "content_lora_scale"),
    (dict(motion_coherence=1.5), "motion_coherence"),
    (dict(combiner="spline"), "combiner"),
    (dict(output_type="gif"), "output_type"),
    (dict(motion_prompt=["a", "b", "c"]), "motion_prompt"),
]


@pytest.mark.parametrize("kwargs,name", BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_bad_input_names_the_argument(pipe, kwargs, name):
    kw = gen_kwargs()
    prompt = kwargs.pop("prompt", "a ball")
    kw.update(kwargs)
    with pytest.raises(DSDNInputError) as err:
        pipe(prompt, **kw)
    msg = str(err.value)
    assert msg.startswith(f"{name}=") and "\n" not in msg


def test_size_error_suggests_a_valid_size(pipe):
    with pytest.raises(DSDNInputError, match=r"multiple of 4.*Try 16"):
        pipe("a ball", **gen_kwargs(height=18))


@pytest.mark.slow
def test_sampling_ignores_train_mode_and_restores_it():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    pipe.adapter.train()  # e.g. validation samples from inside a training loop: dropout must be off
    a = pipe("a ball", **gen_kwargs()).frames
    assert pipe.adapter.training
    pipe.adapter.eval()
    assert_same_frames(a, pipe("a ball", **gen_kwargs()).frames)


@pytest.mark.parametrize("scheduler", ["ddim", "euler", "dpm++"])
@pytest.mark.slow
def test_stream_sync_leaves_the_streams_in_agreement(pipe, scheduler):
    """At full sync both streams end as one video, so the combiner has nothing left to reconcile."""
    from dsdn.motion_codec import combine_motion, decompose_motion

    perturb_trained_parts_(pipe)
    pipe.scheduler = make_scheduler(scheduler, pipe.scheduler.config)
    s = pipe.adapter.config.motion_scale
    last = {}
    kw = gen_kwargs(num_inference_steps=6, output_type="latent", motion_coherence=0.5, combiner="least_squares",
                    callback_on_step_end=lambda p, i, t, kw: last.update(kw),
                    callback_on_step_end_tensor_inputs=BOTH)  # fmt: skip
    synced = pipe("a red ball", stream_sync=1.0, **kw).frames
    gap = lambda: float((decompose_motion(last["latents"], s) - last["motion_latents"]).abs().mean())  # noqa: E731
    gap_synced = gap()
    plain = pipe("a red ball", stream_sync=0.0, **kw).frames
    assert gap_synced < 0.2 * gap()  # the last step's noise keeps them from agreeing exactly
    assert torch.isfinite(synced).all() and not torch.allclose(synced, plain)
    assert torch.allclose(combine_motion(last["latents"], last["motion_latents"], s, 0.5, "least_squares"), plain)


@pytest.mark.slow
def test_shared_noise_correlates_the_content_frames_and_zero_samples_as_before(pipe):
    first = {}
    kw = dict(num_inference_steps=1, output_type="latent",
              callback_on_step_end=lambda p, i, t, st: first.setdefault(i, st))  # fmt: skip
    pipe.scheduler = make_scheduler("ddim", pipe.scheduler.config)
    default = pipe("a red ball", **gen_kwargs(**kw)).frames
    assert agrees(pipe("a red ball", shared_noise=0.0, **gen_kwargs(**kw)).frames, default)
    out = {}
    for rho in (0.0, 0.9):
        pipe("a red ball", shared_noise=rho, **gen_kwargs(num_frames=8, num_inference_steps=1, output_type="latent",
             callback_on_step_end=lambda p, i, t, st, rho=rho: out.__setitem__(rho, st["latents"])))  # fmt: skip

    def frame_corr(z):
        f = z[0].permute(1, 0, 2, 3).reshape(z.shape[2], -1)
        c = torch.corrcoef(f)
        return float(c[~torch.eye(len(c), dtype=bool)].mean())

    assert frame_corr(out[0.9]) > frame_corr(out[0.0]) + 0.3


@pytest.mark.slow
def test_cross_frame_attention_is_a_sampling_option_whose_default_the_model_saves(pipe, tmp_path):
    perturb_trained_parts_(pipe)
    plain = pipe("a red ball", **gen_kwargs(output_type="pt")).frames
    cross = pipe("a red ball", cross_frame_attention=True, **gen_kwargs(output_type="pt")).frames
    assert not torch.allclose(cross, plain, atol=1e-4)
    assert agrees(pipe("a red ball", cross_frame_attention=False, **gen_kwargs(output_type="pt")).frames, plain)
    assert pipe.sampling_settings()["cross_frame_attention"] is False
    pipe.adapter.register_to_config(cross_frame_attention=True)
    pipe.save_pretrained(tmp_path / "m")
    loaded = type(pipe).from_pretrained(tmp_path / "m")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.sampling_settings()["cross_frame_attention"] is True
    torch.testing.assert_close(loaded("a red ball", **gen_kwargs(output_type="pt")).frames, cross)


@pytest.mark.parametrize("name,value", [("stream_sync", 1.5), ("stream_sync", -0.1), ("shared_noise", 2.0),
                                        ("shared_noise", float("nan"))])  # fmt: skip
def test_bad_sync_and_shared_noise_are_one_line_errors(pipe, name, value):
    with pytest.raises(DSDNInputError, match=name):
        pipe("a red ball", **gen_kwargs(**{name: value}))


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
@pytest.mark.slow
def test_every_listed_scheduler_runs_with_stream_sync_and_shared_noise(pipe, name):
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    out = pipe("a red ball", stream_sync=1.0, shared_noise=0.5, **gen_kwargs(num_inference_steps=3, output_type="pt"))
    assert torch.isfinite(out.frames).all()


@pytest.mark.slow
def test_a_closed_vocabulary_model_reads_numerals_capitals_and_punctuation_and_suggests_near_words(pipe):
    pipe.known_words = frozenset("a red blue circle digit three moving left right".split())
    typed = pipe("A red digit 3, moving LEFT.", **gen_kwargs(output_type="pt")).frames
    assert agrees(typed, pipe("a red digit three moving left", **gen_kwargs(output_type="pt")).frames)
    bare = pipe("a red 3 moving left", **gen_kwargs(output_type="pt")).frames
    assert agrees(bare, typed)  # a bare numeral is read as the digit
    with pytest.raises(DSDNInputError, match=r"'circel' \(did you mean 'circle'\?\).*'purple'(?! \(did)"):
        pipe("a purple circel moving left", **gen_kwargs())
    with pytest.raises(DSDNInputError, match="'7'"):  # a numeral the model has no word for stays unknown
        pipe("a red 7 moving left", **gen_kwargs())


@pytest.mark.parametrize("kwargs", [{"guidance_scale": 1e308}, {"content_lora_scale": 1e30}])
def test_non_finite_sampling_stops_with_a_one_line_error_instead_of_a_black_video(pipe, kwargs):
    from dsdn.errors import NonFiniteOutputError

    perturb_trained_parts_(pipe)
    with pytest.raises(NonFiniteOutputError, match="NaN or infinite latents"):
        pipe("a red ball", **gen_kwargs(**kwargs))


def test_non_finite_model_weights_stop_generation(pipe):
    from dsdn.errors import NonFiniteOutputError

    with torch.no_grad():
        next(pipe.adapter.motion_unet.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteOutputError, match="weights are finite"):
        pipe("a red ball", **gen_kwargs())


@pytest.mark.slow
def test_step_end_callback_keeps_diffusers_contract():
    """diffusers' ``fn(pipe, step, timestep, kwargs) -> kwargs``: what it returns replaces the loop's tensors, its
    properties say where the call is, ``_interrupt`` skips the rest, and a built-in diffusers callback works."""
    from diffusers.callbacks import SDCFGCutoffCallback

    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    seen = []

    def zero_content_at_the_end(p, i, t, kw):
        seen.append((i, int(t), p.num_timesteps, p.guidance_scale, sorted(kw)))
        return {"latents": kw["latents"] * 0.0} if i == p.num_timesteps - 1 else kw

    out = pipe("a red ball", **gen_kwargs(output_type="latent", motion_coherence=0.0),
               callback_on_step_end=zero_content_at_the_end)  # fmt: skip
    assert [s[0] for s in seen] == [0, 1, 2] and seen[0][2:] == (3, 7.5, ["latents"])
    assert [s[1] for s in seen] == [int(t) for t in pipe.scheduler.timesteps]
    assert float(out.frames.abs().max()) == 0.0  # γ 0: the video is the content the callback replaced

    def stop_after_first(p, i, t, kw):
        seen.append(i)
        p._interrupt = True
        return kw

    seen.clear()
    pipe("a red ball", **gen_kwargs(output_type="latent"), callback_on_step_end=stop_after_first)
    assert seen == [0]

    ref = pipe("a red ball", **gen_kwargs(output_type="latent")).frames

    def cut_after(step):
        cut = SDCFGCutoffCallback(cutoff_step_ratio=None, cutoff_step_index=step)
        return pipe("a red ball", **gen_kwargs(output_type="latent"), callback_on_step_end=cut)

    late, early = cut_after(2), cut_after(0)
    assert pipe.guidance_scale == 0.0  # the callback turned guidance off after step 0 ...
    assert agrees(late.frames, ref)  # ... and a cut after the last step changes nothing
    assert torch.isfinite(early.frames).all() and not agrees(early.frames, ref)
    with pytest.raises(DSDNInputError, match="callback_on_step_end_tensor_inputs"):
        pipe("a red ball", **gen_kwargs(), callback_on_step_end=lambda p, i, t, kw: kw,
             callback_on_step_end_tensor_inputs=["noise"])  # fmt: skip


@pytest.mark.slow
def test_latents_as_one_tensor_are_the_content_noise():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    shape = (1, pipe.unet.config.in_channels, 4, SIZE // 2, SIZE // 2)
    z = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    one = pipe("a red ball", **gen_kwargs(output_type="latent", latents=z)).frames  # motion noise: the generator's
    m = torch.randn(shape, generator=gen_kwargs()["generator"])
    assert agrees(one, pipe("a red ball", **gen_kwargs(output_type="latent", latents=(z, m))).frames)
    assert not agrees(one, pipe("a red ball", **gen_kwargs(output_type="latent", latents=(z, -m))).frames)
    for bad in ([z], (z, m, m), "noise"):
        with pytest.raises(DSDNInputError, match="latents="):
            pipe("a red ball", **gen_kwargs(latents=bad))


@pytest.mark.slow
def test_steps_have_a_model_default_that_an_explicit_count_overrides(pipe):
    def count_steps(**kw):
        seen = []
        base = gen_kwargs()
        base.pop("num_inference_steps")
        kw = {**base, **kw}
        pipe("a red ball", callback_on_step_end=lambda p, i, t, k: seen.append(i) or {}, **kw)
        return len(seen)

    assert count_steps() == 25  # a model that sets none
    pipe.adapter.register_to_config(num_inference_steps=3)
    assert pipe.default_steps() == 3 and count_steps() == 3
    assert count_steps(num_inference_steps=2) == 2
    with pytest.raises(ValueError, match="num_inference_steps"):
        type(pipe.adapter)(num_inference_steps=0)
