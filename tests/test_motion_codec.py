import pytest
import torch

from dsdn import (
    DSDNInputError,
    MotionCombiner,
    MotionDecomposer,
    combine_motion,
    decompose_motion,
    estimate_motion_scale,
)


@pytest.fixture
def z():
    return torch.randn(2, 4, 6, 5, 7, generator=torch.Generator().manual_seed(0))


def test_decompose_first_frame_zero_and_scaled_differences(z):
    m = decompose_motion(z, motion_scale=2.5)
    assert m.shape == z.shape
    assert torch.equal(m[:, :, 0], torch.zeros_like(m[:, :, 0]))
    torch.testing.assert_close(m[:, :, 3], 2.5 * (z[:, :, 3] - z[:, :, 2]))


@pytest.mark.parametrize("gamma", [1.0, 0.5, 0.25])
def test_combine_inverts_decompose_when_content_is_exact(z, gamma):
    m = decompose_motion(z, motion_scale=3.0)
    torch.testing.assert_close(combine_motion(z, m, motion_scale=3.0, coherence=gamma), z, atol=1e-5, rtol=1e-5)


def test_gamma_zero_returns_content_unchanged(z):
    m = torch.randn_like(z)
    assert combine_motion(z, m, 1.0, 0.0) is z


def test_gamma_one_integrates_motion_from_first_frame(z):
    m = decompose_motion(z, 1.0)
    noisy_content = z + torch.randn_like(z)
    out = combine_motion(noisy_content, m, 1.0, 1.0)
    # Only frame 1 of the content is used; the rest follows the motion.
    torch.testing.assert_close(out - out[:, :, :1], z - z[:, :, :1], atol=1e-5, rtol=1e-5)


def test_combiner_smooths_flicker():
    # A static video whose content flickers per frame; motion says "nothing moves".
    clean = torch.ones(1, 1, 16, 4, 4)
    flicker = clean + 0.5 * torch.randn(1, 1, 16, 4, 4, generator=torch.Generator().manual_seed(1))
    out = combine_motion(flicker, torch.zeros_like(flicker), 1.0, 0.8)
    tv = lambda v: (v[:, :, 1:] - v[:, :, :-1]).abs().mean()  # noqa: E731
    assert tv(out) < 0.5 * tv(flicker)


def test_modules_and_scale_estimate(z):
    s = estimate_motion_scale(z)
    m = MotionDecomposer(s)(z)
    assert abs(float(m[:, :, 1:].std()) - 1.0) < 1e-4
    torch.testing.assert_close(MotionCombiner(s, 0.7)(z, m), z, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_motion_scale(z, bad):
    with pytest.raises(DSDNInputError, match="motion_scale"):
        decompose_motion(z, bad)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_bad_coherence(z, bad):
    with pytest.raises(DSDNInputError, match="motion_coherence"):
        combine_motion(z, z, 1.0, bad)


def test_static_latents_cannot_estimate_scale():
    with pytest.raises(ValueError, match="do not change"):
        estimate_motion_scale(torch.ones(1, 4, 3, 2, 2))


# ----------------------------------------------------------------------------- least-squares combiner
@pytest.mark.parametrize("gamma", [1.0, 0.9, 0.5, 0.25])
def test_least_squares_inverts_decompose_when_content_is_exact(z, gamma):
    m = decompose_motion(z, motion_scale=3.0)
    out = combine_motion(z, m, motion_scale=3.0, coherence=gamma, combiner="least_squares")
    torch.testing.assert_close(out, z, atol=1e-5, rtol=1e-5)


def test_least_squares_is_the_minimiser_of_its_objective(z):
    m = torch.randn_like(z)
    g, s = 0.6, 2.0
    out = combine_motion(z, m, s, g, "least_squares").requires_grad_(True)
    cost = (1 - g) * ((out - z) ** 2).sum() + g * ((out[:, :, 1:] - out[:, :, :-1] - m[:, :, 1:] / s) ** 2).sum()
    (grad,) = torch.autograd.grad(cost, out)
    assert grad.abs().max() < 1e-4  # a stationary point of a convex quadratic: its minimum
    assert combine_motion(z, m, s, 0.0, "least_squares") is z


def test_least_squares_gamma_one_is_the_limit_integrating_motion_at_the_content_mean(z):
    m = torch.randn_like(z)
    out = combine_motion(z, m, 2.0, 1.0, "least_squares")
    torch.testing.assert_close(out[:, :, 1:] - out[:, :, :-1], m[:, :, 1:] / 2.0, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.mean(2), z.mean(2), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(combine_motion(z, m, 2.0, 1 - 1e-6, "least_squares"), out, atol=1e-3, rtol=1e-3)


def test_least_squares_lifts_a_dim_first_frame_the_causal_filter_keeps():
    # Content draws the same thing in every frame but frame 1, which it draws empty; motion says "nothing moves".
    content = torch.ones(1, 1, 8, 2, 2)
    content[:, :, 0] = 0.0
    still = torch.zeros_like(content)
    causal = combine_motion(content, still, 1.0, 0.75, "causal")
    least = combine_motion(content, still, 1.0, 0.75, "least_squares")
    assert float(causal[0, 0, 0].mean()) == 0.0  # the causal filter starts from content frame 1 as drawn
    assert float(least[0, 0, 0].mean()) > 0.5  # here frame 1 weighs the other frames too
    assert float(least[0, 0, 1:].min()) > 0.7  # (at some cost to the frames next to it)


def test_least_squares_smooths_flicker_and_keeps_dtype():
    clean = torch.ones(1, 1, 16, 4, 4)
    flicker = clean + 0.5 * torch.randn(1, 1, 16, 4, 4, generator=torch.Generator().manual_seed(1))
    out = combine_motion(flicker.half(), torch.zeros_like(flicker).half(), 1.0, 0.8, "least_squares")
    tv = lambda v: (v[:, :, 1:] - v[:, :, :-1]).float().abs().mean()  # noqa: E731
    assert out.dtype == torch.float16 and tv(out) < 0.5 * tv(flicker)
    torch.testing.assert_close(MotionCombiner(1.0, 0.8, "least_squares")(flicker, 0 * flicker), out.float(),
                               atol=1e-2, rtol=1e-2)  # fmt: skip


def test_unknown_combiner(z):
    with pytest.raises(DSDNInputError, match="combiner='spline'"):
        combine_motion(z, z, 1.0, 0.5, "spline")
    with pytest.raises(DSDNInputError, match="combiner="):
        MotionCombiner(1.0, 0.5, "spline")


@pytest.mark.parametrize("combiner", ["causal", "least_squares"])
@pytest.mark.parametrize("gamma", [0.5, 1.0])
def test_agree_streams_makes_the_streams_one_video(combiner, gamma):
    from dsdn.motion_codec import agree_streams

    g = torch.Generator().manual_seed(0)
    c, m = torch.randn(2, 3, 6, 4, 4, generator=g), torch.randn(2, 3, 6, 4, 4, generator=g)
    video = combine_motion(c, m, 2.0, gamma, combiner)
    c1, m1 = agree_streams(c, m, 2.0, gamma, combiner, 1.0)
    assert torch.allclose(c1, video, atol=1e-5) and torch.allclose(m1, decompose_motion(video, 2.0), atol=1e-5)
    # once they agree, combining returns that video and agreeing again changes nothing
    assert torch.allclose(combine_motion(c1, m1, 2.0, gamma, combiner), video, atol=1e-4)
    c2, m2 = agree_streams(c1, m1, 2.0, gamma, combiner, 1.0)
    assert torch.allclose(c2, c1, atol=1e-4) and torch.allclose(m2, m1, atol=1e-4)
    # strength 0 leaves both as they were; strength 0.5 goes half way
    c0, m0 = agree_streams(c, m, 2.0, gamma, combiner, 0.0)
    assert torch.equal(c0, c) and torch.equal(m0, m)
    ch, _ = agree_streams(c, m, 2.0, gamma, combiner, 0.5)
    assert torch.allclose(ch, (c + video) / 2, atol=1e-5)
    with pytest.raises(DSDNInputError, match="stream_sync"):
        agree_streams(c, m, 2.0, gamma, combiner, 1.5)


# ----------------------------------------------------------------------------- circular (looping clips)
def test_circular_decompose_adds_the_step_from_the_last_frame_to_the_first(z):
    m = decompose_motion(z, 2.5, circular=True)
    torch.testing.assert_close(m[:, :, 0], 2.5 * (z[:, :, 0] - z[:, :, -1]))
    torch.testing.assert_close(m[:, :, 1:], decompose_motion(z, 2.5)[:, :, 1:])


@pytest.mark.parametrize("gamma", [1.0, 0.5])
def test_circular_least_squares_inverts_decompose_and_minimises_its_objective(z, gamma):
    s = 3.0
    out = combine_motion(z, decompose_motion(z, s, circular=True), s, gamma, "least_squares", circular=True)
    torch.testing.assert_close(out, z, atol=1e-5, rtol=1e-5)
    m = torch.randn_like(z)
    out = combine_motion(z, m, s, gamma, "least_squares", circular=True).requires_grad_(True)
    steps = out - out.roll(1, dims=2) - m / s  # every step, frame F to frame 1 included
    cost = (1 - gamma) * ((out - z) ** 2).sum() + gamma * (steps**2).sum()
    (grad,) = torch.autograd.grad(cost, out)
    assert grad.abs().max() < 1e-4  # the minimum (at γ = 1, among the paths with the content's mean)
    torch.testing.assert_close(out.mean(2), z.mean(2), atol=1e-5, rtol=1e-5)


def test_only_the_circular_combiner_reads_the_step_from_the_last_frame_to_the_first():
    m = torch.zeros(1, 1, 8, 1, 1)
    m[:, :, 0] = 1.0  # still content, and one step asked: from frame 8 up to frame 1
    c = torch.zeros_like(m)
    for gamma in (0.5, 1.0):
        assert torch.equal(combine_motion(c, m, 1.0, gamma, "least_squares"), c)
        v = combine_motion(c, m, 1.0, gamma, "least_squares", circular=True).flatten()
        assert v[0] - v[-1] > 0.05 and abs(float(v.mean())) < 1e-6  # taken, around the content's mean
