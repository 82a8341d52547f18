import copy

import pytest
import torch
from conftest import agrees, make_pipeline
from diffusers import DDPMScheduler

from dsdn import dsdn_loss


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 4, 3, 8, 8, generator=g), torch.randn(2, 16, 32, generator=g), torch.zeros(1, 16, 32)


def _sched(kind="epsilon"):
    return DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, prediction_type=kind)


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_loss_is_finite_and_reproducible(kind):
    den = make_pipeline().denoiser()
    z0, text, null = _batch()
    a = dsdn_loss(den, z0, text, null, _sched(kind), 1.0, generator=torch.Generator().manual_seed(1))
    b = dsdn_loss(den, z0, text, null, _sched(kind), 1.0, generator=torch.Generator().manual_seed(1))
    c = dsdn_loss(den, z0, text, null, _sched(kind), 1.0, generator=torch.Generator().manual_seed(2))
    assert torch.isfinite(a.loss) and agrees(a.loss, b.loss) and not agrees(a.loss, c.loss)
    torch.testing.assert_close(a.loss, a.content + a.motion)


def test_shared_timestep_independent_noises_and_text_dropout():
    seen = {}

    def spy(z_t, m_t, t, text):
        seen.update(z_t=z_t, m_t=m_t, t=t, text=text)
        return torch.zeros_like(z_t), torch.zeros_like(m_t)

    z0, text, null = _batch()
    sched = _sched()
    out = dsdn_loss(spy, z0, text, null, sched, 2.0, motion_weight=0.5, text_dropout=1.0,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert seen["t"].shape == (2,)  # one timestep per video, used by both streams
    assert torch.equal(seen["text"], null.expand_as(text))  # dropout 1.0: always the empty prompt
    # With zero predictions the losses are the noise energies; the streams' noises differ.
    g = torch.Generator().manual_seed(0)
    t = torch.randint(0, 1000, (2,), generator=g)
    e_c, e_m = torch.randn(z0.shape, generator=g), torch.randn(z0.shape, generator=g)
    assert torch.equal(t, seen["t"])
    torch.testing.assert_close(seen["z_t"], sched.add_noise(z0, e_c, t))
    torch.testing.assert_close(out.content, (e_c**2).mean())
    torch.testing.assert_close(out.loss, (e_c**2).mean() + 0.5 * (e_m**2).mean())
    dsdn_loss(spy, z0, text, null, sched, 2.0, text_dropout=0.0)
    assert torch.equal(seen["text"], text)


def test_shared_noise_gives_every_frame_of_a_clip_a_common_share_of_the_content_noise():
    seen = {}

    def spy(z_t, m_t, t, text):
        seen.update(z_t=z_t, m_t=m_t)
        return torch.zeros_like(z_t), torch.zeros_like(m_t)

    z0, text, null = _batch()
    sched = _sched()

    def noises(rho):
        dsdn_loss(spy, z0, text, null, sched, 2.0, shared_noise=rho, generator=torch.Generator().manual_seed(3))
        g = torch.Generator().manual_seed(3)
        a = sched.alphas_cumprod[torch.randint(0, 1000, (2,), generator=g)].view(2, 1, 1, 1, 1)
        return (seen["z_t"] - a.sqrt() * z0) / (1 - a).sqrt(), seen["m_t"]

    own, m_own = noises(0.0)
    same, m_same = noises(1.0)
    half, m_half = noises(0.5)
    assert torch.allclose(same, same[:, :, :1].expand_as(same), atol=1e-4)  # one noise for all frames
    assert not torch.allclose(own, own[:, :, :1].expand_as(own), atol=1e-1)
    torch.testing.assert_close(half, 0.5**0.5 * (same + own), atol=1e-4, rtol=1e-4)  # the mixture of both
    assert agrees(m_own, m_same) and agrees(m_own, m_half)  # the motion stream's noise is its own


def test_optimizer_step_moves_only_the_trainable_set():
    pipe = make_pipeline()
    den = pipe.denoiser()
    params = den.set_trainable()
    frozen = {
        "vae": copy.deepcopy(pipe.vae.state_dict()),
        "text_encoder": copy.deepcopy(pipe.text_encoder.state_dict()),
        "unet": {k: v.clone() for k, v in pipe.unet.state_dict().items() if "lora_" not in k},
    }
    trainable_before = {n: p.detach().clone() for n, p in den.trainable_parameters()}
    opt = torch.optim.AdamW(params, lr=1e-3)
    z0, text, null = _batch()
    loss = dsdn_loss(den, z0, text, null, _sched(), 1.0, combine_weight=0.1, generator=torch.Generator().manual_seed(0))
    loss.loss.backward()
    grads = {n: p.grad for n, p in den.trainable_parameters()}
    assert all(g is not None for g in grads.values())
    assert not any(p.grad is not None for n, p in pipe.unet.named_parameters() if "lora_" not in n)
    opt.step()
    for name, module in (("vae", pipe.vae), ("text_encoder", pipe.text_encoder)):
        for k, v in module.state_dict().items():
            assert torch.equal(v, frozen[name][k]), (name, k)
    for k, v in pipe.unet.state_dict().items():
        if "lora_" not in k:
            assert torch.equal(v, frozen["unet"][k]), k
    moved = [n for n, p in den.trainable_parameters() if not torch.equal(p, trainable_before[n])]
    assert any("lora_B" in n for n in moved) and any("interaction" in n for n in moved)
    assert any(n.startswith("motion_unet") for n in moved)


@pytest.mark.slow
def test_a_few_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    den = make_pipeline().denoiser()
    opt = torch.optim.AdamW(den.set_trainable(), lr=2e-3)
    z0, text, null = _batch()
    sched = _sched()
    losses = []
    for _ in range(12):
        out = dsdn_loss(den, z0, text, null, sched, 1.0, text_dropout=0.0, generator=torch.Generator().manual_seed(7))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction"])
def test_min_snr_weights_each_videos_error(kind):
    from dsdn.objective import min_snr_weights

    sched = _sched(kind)
    t = torch.tensor([0, 50, 400, 999])
    snr = sched.alphas_cumprod[t].double() / (1 - sched.alphas_cumprod[t].double())
    w = min_snr_weights(sched, t, 5.0)
    want = snr.clamp(max=5.0) / (snr if kind == "epsilon" else snr + 1)
    torch.testing.assert_close(w, want.float())
    assert w[0] < w[-1] and float(w.max()) <= 1.0  # the easy low-noise end is down-weighted
    if kind == "epsilon":
        assert w[-1] == 1.0  # noisy timesteps (SNR below γ) keep their full weight

    def zero(z_t, m_t, t, text):
        return torch.zeros_like(z_t), torch.zeros_like(m_t)

    z0, text, null = _batch()
    out = dsdn_loss(zero, z0, text, null, sched, 2.0, motion_weight=0.5, snr_gamma=5.0,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    g = torch.Generator().manual_seed(0)
    tt = torch.randint(0, 1000, (2,), generator=g)
    e_c, e_m = torch.randn(z0.shape, generator=g), torch.randn(z0.shape, generator=g)
    m0 = torch.zeros_like(z0)
    m0[:, :, 1:] = 2.0 * (z0[:, :, 1:] - z0[:, :, :-1])
    targets = (e_c, e_m) if kind == "epsilon" else (sched.get_velocity(z0, e_c, tt), sched.get_velocity(m0, e_m, tt))
    ww = min_snr_weights(sched, tt, 5.0)
    want_c, want_m = ((x.flatten(1) ** 2).mean(1) @ ww / 2 for x in targets)
    torch.testing.assert_close(out.content, want_c)
    torch.testing.assert_close(out.loss, want_c + 0.5 * want_m)
    plain = dsdn_loss(zero, z0, text, null, sched, 2.0, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(plain.content, out.content)  # the weighting changes the loss


@pytest.mark.parametrize("combiner", ["causal", "least_squares"])
def test_combine_term_is_the_min_snr_weighted_error_of_the_combined_clip(combiner):
    from dsdn.motion_codec import decompose_motion

    sched, (z0, text, null), offset = _sched(), _batch(), 0.3
    m0, seen = decompose_motion(z0, 2.0), {}
    a_bar = sched.alphas_cumprod

    def off_by(delta):  # clean predictions: every content frame off by ``delta``, motion exact
        def den(z_t, m_t, t, text):
            a = a_bar[t].view(-1, 1, 1, 1, 1)
            seen["t"] = t
            return ((z_t - a.sqrt() * (z0 + delta)) / (1 - a).sqrt(), (m_t - a.sqrt() * m0) / (1 - a).sqrt())

        return den

    def term(delta, **kw):
        return dsdn_loss(off_by(delta), z0, text, null, sched, 2.0, combine_weight=1.0, combiner=combiner,
                         generator=torch.Generator().manual_seed(0), **kw).combine  # fmt: skip

    assert float(term(0.0)) < 1e-8  # both streams right: the combined clip is the clip
    snr = a_bar[seen["t"]].double() / (1 - a_bar[seen["t"]].double())
    # A constant offset of every content frame agrees with exact motion, so the combined clip is off by it too.
    torch.testing.assert_close(term(offset), (snr.clamp(max=5.0).mean() * offset**2).float())
    torch.testing.assert_close(term(offset, snr_gamma=1.0), (snr.clamp(max=1.0).mean() * offset**2).float())


def _fixed_prediction(seed=5):
    """A denoiser whose predictions are fixed random tensors (not the targets)."""

    def den(z_t, m_t, t, text):
        g = torch.Generator().manual_seed(seed)
        return torch.randn(z_t.shape, generator=g), torch.randn(m_t.shape, generator=g)

    return den


def _velocity_and_target_losses(sched, **kw):
    """The same batch, noises and predictions under ``motion_loss="velocity"`` and ``"target"``."""
    z0, text, null = _batch()
    den = _fixed_prediction()
    return tuple(
        dsdn_loss(den, z0, text, null, sched, 2.0, generator=torch.Generator().manual_seed(0), motion_loss=m, **kw)
        for m in ("velocity", "target")
    )


def test_velocity_motion_loss_weights_the_motion_error_by_one_over_alpha_bar():
    sched = _sched("epsilon")
    z0, text, _ = _batch()
    vel, eps = _velocity_and_target_losses(sched)
    g = torch.Generator().manual_seed(0)
    tt = torch.randint(0, 1000, (2,), generator=g)
    torch.randn(z0.shape, generator=g)  # the content noise
    e_m = torch.randn(z0.shape, generator=g)
    _, pred_m = _fixed_prediction()(z0, z0, tt, text)
    want = (((pred_m - e_m) ** 2).flatten(1).mean(1) / sched.alphas_cumprod[tt]).mean()
    torch.testing.assert_close(vel.motion, want)
    torch.testing.assert_close(vel.content, eps.content)  # the content loss is untouched
    assert vel.motion > eps.motion  # 1/ᾱ > 1 at every timestep
    # with Min-SNR-γ, v and ε errors are weighted to the same loss (min(SNR, γ)/(SNR+1)/ᾱ = min(SNR, γ)/SNR)
    a, b = _velocity_and_target_losses(sched, snr_gamma=5.0)
    torch.testing.assert_close(a.motion, b.motion)


def test_velocity_motion_loss_is_the_target_loss_for_v_schedulers_and_checks_its_name():
    sched = _sched("v_prediction")
    vel, tgt = _velocity_and_target_losses(sched)
    torch.testing.assert_close(vel.loss, tgt.loss)
    z0, text, null = _batch()
    with pytest.raises(ValueError, match="motion_loss='x0' is invalid"):
        dsdn_loss(_fixed_prediction(), z0, text, null, sched, 2.0, motion_loss="x0")


def test_caption_contrast_negatives_swap_one_side_of_a_pair():
    from dsdn.objective import parse_word_pairs, swap_pair_words

    swap = parse_word_pairs(("left:right", "up:down", "rises:falls"))
    assert swap_pair_words("a red circle moving up", swap) == "a red circle moving down"
    assert (
        swap_pair_words("the blue square slides to the Left quickly", swap)
        == "the blue square slides to the right quickly"
    )
    assert swap_pair_words("a green digit one falls", swap) == "a green digit one rises"
    assert swap_pair_words("a red circle bouncing up and down", swap) is None  # the swap would say the same
    assert swap_pair_words("a red circle bounces", swap) is None
    for bad in (["left"], ["left:left"], ["left:right", "left:up"], ["le ft:right"]):
        with pytest.raises(ValueError, match="contrast pair"):
            parse_word_pairs(bad)


def _reader(wrong_cost):
    """A fake denoiser: motion prediction 0 under the clip's own text, ``wrong_cost`` everywhere under any other."""

    def den(z_t, m_t, t, text, motion_text=None):
        pred = torch.zeros_like(m_t)
        if motion_text is not None:
            wrong = (motion_text - text).flatten(1).abs().amax(1) > 0
            pred = pred + wrong_cost * wrong.view(-1, 1, 1, 1, 1)
        return torch.zeros_like(z_t), pred

    return den


def test_caption_contrast_term_charges_a_stream_that_ignores_the_word_and_not_one_that_reads_it():
    z0, text, null = _batch()
    sched = _sched()
    kwargs = dict(text_dropout=0.0, contrast_text=text + 1.0, contrast_mask=torch.tensor([True, False]),
                  contrast_weight=1.0)  # fmt: skip
    ignores = dsdn_loss(_reader(0.0), z0, text, null, sched, 1.0, generator=torch.Generator().manual_seed(3), **kwargs)
    reads = dsdn_loss(_reader(3.0), z0, text, null, sched, 1.0, generator=torch.Generator().manual_seed(3), **kwargs)
    # the same prediction under both captions pays the margin at its noise level, for the one clip with a negative
    g = torch.Generator().manual_seed(3)
    t = torch.randint(0, 1000, (2,), generator=g)
    torch.testing.assert_close(ignores.contrast, 0.2 * (1 - sched.alphas_cumprod[t[0]]) / 2)
    assert reads.contrast == 0  # a wrong caption that predicts far worse pays nothing
    torch.testing.assert_close(ignores.loss, ignores.content + ignores.motion + ignores.contrast)
    torch.testing.assert_close(ignores.motion, reads.motion)  # the own-caption predictions are the batch's first B
    off = dsdn_loss(_reader(0.0), z0, text, null, sched, 1.0, generator=torch.Generator().manual_seed(3),
                    **{**kwargs, "contrast_weight": 0.0})  # fmt: skip
    assert off.contrast is None and agrees(off.motion, ignores.motion)


@pytest.mark.slow
def test_caption_contrast_runs_through_the_real_denoiser_and_reaches_the_motion_stream():
    den = make_pipeline().denoiser()
    params = den.set_trainable()
    z0, text, null = _batch()
    out = dsdn_loss(den, z0, text, null, _sched(), 1.0, text_dropout=0.0, generator=torch.Generator().manual_seed(0),
                    contrast_text=-text, contrast_mask=torch.tensor([True, True]), contrast_weight=1.0)  # fmt: skip
    assert out.contrast is not None and torch.isfinite(out.loss)
    base = dsdn_loss(den, z0, text, null, _sched(), 1.0, text_dropout=0.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.content, base.content)
    torch.testing.assert_close(out.motion, base.motion)
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
