"""The step cache for both streams (dsdn.step_cache): what a cached step reuses, and when."""

import pytest
import torch
from conftest import agrees, assert_frames_differ, assert_same_frames, gen_kwargs, perturb_trained_parts_

from dsdn import ContentStream, DSDNAdapter, DualStreamDenoiser
from dsdn.errors import DSDNInputError
from dsdn.step_cache import StepCache
from dsdn.tiny import tiny_unet


def coupled_denoiser(levels: int) -> DualStreamDenoiser:
    """A tiny denoiser with ``levels`` levels whose interaction couples the streams (as after training)."""
    unet = tiny_unet(block_out_channels=(32, 64, 64)[:levels])
    adapter = DSDNAdapter.for_base(unet, motion_channels=(16, 32, 32)[:levels], motion_num_heads=2)
    with torch.no_grad():
        for p in adapter.interaction.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.05)
    return DualStreamDenoiser(ContentStream(unet), adapter.motion_unet, adapter.interaction)


def inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z, m = torch.randn(2, 4, 3, 8, 8, generator=g), torch.randn(2, 4, 3, 8, 8, generator=g)
    return z, m, torch.tensor([500, 500]), torch.randn(2, 16, 32, generator=g)


def mid_calls(den: DualStreamDenoiser) -> list[str]:
    """Record each call of either UNet's middle block (the deepest level)."""
    calls = []
    den.content.unet.mid_block.register_forward_hook(lambda *_: calls.append("content"))
    den.motion_unet.mid_block.register_forward_hook(lambda *_: calls.append("motion"))
    return calls


@pytest.mark.parametrize("levels, depth", [(2, 1), (3, 1), (3, 2)])
def test_a_cached_step_on_the_same_inputs_gives_the_full_steps_prediction_without_the_deep_levels(levels, depth):
    den = coupled_denoiser(levels)
    calls = mid_calls(den)
    cache = StepCache(interval=2, depth=depth)
    z, m, t, text = inputs()
    with torch.no_grad():
        cache.begin_step(0)
        full = den(z, m, t, text, cache=cache)
        assert calls == ["content", "motion"]
        cache.begin_step(1)
        cached = den(z, m, t, text, cache=cache)  # the deep features kept at step 0 are what they would be now
        assert calls == ["content", "motion"]  # neither UNet's middle ran again
        assert agrees(cached[0], full[0]) and agrees(cached[1], full[1])
        z2, m2, _, _ = inputs(seed=1)
        cache.begin_step(2)  # a full step again: the new inputs go through every level
        new = den(z2, m2, t, text, cache=cache)
        assert len(calls) == 4
        cache.begin_step(3)
        reused = den(z, m, t, text, cache=cache)  # step 2's deep features: not step 0's prediction any more
        assert not agrees(reused[0], full[0], atol=1e-4) and not agrees(reused[1], full[1], atol=1e-4)
        assert not agrees(new[0], full[0], atol=1e-4)


def test_each_call_of_a_step_keeps_its_own_features():
    den = coupled_denoiser(2)
    cache = StepCache(interval=3)
    a, b = inputs(0), inputs(1)
    with torch.no_grad():
        cache.begin_step(0)
        full_a, full_b = den(*a, cache=cache), den(*b, cache=cache)  # two windows of one step
        cache.begin_step(1)
        cached_a, cached_b = den(*a, cache=cache), den(*b, cache=cache)
    assert agrees(cached_a[0], full_a[0]) and agrees(cached_b[0], full_b[0])


def test_interval_one_keeps_nothing_and_bad_settings_are_refused():
    cache = StepCache(interval=1)
    den = coupled_denoiser(2)
    calls = mid_calls(den)
    with torch.no_grad():
        for i in range(3):
            cache.begin_step(i)
            den(*inputs(), cache=cache)
    assert len(calls) == 6
    for kw in ({"interval": 0}, {"interval": 2, "depth": 0}, {"interval": 2, "depth": 2, "max_depth": 1}):
        with pytest.raises(DSDNInputError, match="cache_"):
            StepCache(**kw)


@pytest.mark.slow
def test_pipeline_cache_interval_one_samples_as_before_and_two_skips_the_deep_levels(pipe):
    perturb_trained_parts_(pipe)
    before = pipe(prompt="a red circle", **gen_kwargs(num_inference_steps=4)).frames
    assert_same_frames(pipe(prompt="a red circle", cache_interval=1, **gen_kwargs(num_inference_steps=4)).frames,
                       before)  # fmt: skip
    calls = mid_calls(pipe.denoiser())
    cached = pipe(prompt="a red circle", cache_interval=2, **gen_kwargs(num_inference_steps=4)).frames
    assert len(calls) == 4  # steps 0 and 2 ran both middles; steps 1 and 3 reused them
    assert_frames_differ(cached, before)
    with pytest.raises(DSDNInputError, match="cache_depth"):
        pipe(prompt="a red circle", cache_interval=2, cache_depth=5, **gen_kwargs())
