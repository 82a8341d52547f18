"""The DSDN training objective.

A pure function of the denoiser, a batch and a noise scheduler: the content latents are
decomposed into motion latents, one timestep is drawn per video and shared by both streams,
each stream gets its own Gaussian noise, and the loss is the sum of both streams' denoising
errors (``ε`` or ``v`` targets, following the scheduler's ``prediction_type``):

    loss = mse(ê_c, e_c) + w_m · mse(ê_m, e_m)

Text is replaced by the empty prompt with probability ``text_dropout`` (classifier-free
guidance). With ``snr_gamma`` > 0 each video's error is weighted by Min-SNR-γ (Hang et al.,
2023, as in diffusers' training scripts): ``min(SNR_t, γ) / SNR_t`` for ``ε`` targets and
``min(SNR_t, γ) / (SNR_t + 1)`` for ``v`` targets, which stops the many easy low-noise timesteps
from dominating the gradient.

Our optional extra term, off by default: ``combine_weight`` penalises the motion combiner's
reconstruction of the clean clip from both streams' predicted clean latents,

    combine = mean over videos of min(SNR_t, γ_c) · mse(combine(ẑ_c, m̂), z_0)

which is the error of the denoiser that sampling with stream sync 1 actually uses (both streams are
set to the combined video at every step). The weight is Min-SNR's in clean-latent space
(``γ_c`` = ``snr_gamma``, or 5 when that is off): it puts the term on the scale of the ``ε`` losses,
while high-noise steps, whose clean predictions are necessarily blurred, do not swamp the rest.

Also ours, off by default: a *caption-contrast* term for the motion stream. Each caption that names one
side of a word pair (the caller's, e.g. "left"/"right", "up"/"down") gets a negative: the same caption with that word
swapped for its opposite. The motion stream predicts the same noisy clip under both, in the same
forward pass, and a hinge asks that the wrong caption's error exceed the right one's by a relative
margin that grows with the noise, ``margin · (1 − ᾱ_t)``:

    contrast = (1/B) · Σ over clips with a negative of relu(margin·(1 − ᾱ_t) − (e_neg − e_own) / sg(e_own))

A stream that predicts the same motion whatever direction the caption names pays it in full; one
that reads the word pays nothing. ``sg`` is stop-gradient, so the term is scale-free.

Also ours, off by default: a *mixed noise prior* for the content stream (``shared_noise`` ρ, as in
VideoFusion and PYoCo): its noise is ``√ρ · n_shared + √(1−ρ) · n_frame``, one ``n_shared`` per video for
all frames. Sampling with ``shared_noise`` > 0 (:class:`~dsdn.pipeline.DSDNPipeline`) draws its initial noise
this way; training with the same ρ shows the model the noise it will start from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .motion_codec import combine_motion, decompose_motion


def mix_shared_noise(noise: torch.Tensor, common: torch.Tensor, rho: float) -> torch.Tensor:
    """``√ρ · common + √(1−ρ) · noise``: per-frame ``noise`` ``(B, C, F, h, w)`` with a share ρ of its variance
    replaced by ``common`` ``(B, C, 1, h, w)``, shared by all frames (still unit variance)."""
    return rho**0.5 * common + (1.0 - rho) ** 0.5 * noise


@dataclass
class DSDNLoss:
    """Total loss and its parts (detached parts are for logging)."""

    loss: torch.Tensor
    content: torch.Tensor
    motion: torch.Tensor
    combine: torch.Tensor | None = None
    contrast: torch.Tensor | None = None


def prediction_target(scheduler, clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(clean, noise, t)
    raise ValueError(f"prediction_type={kind!r} is not supported: use 'epsilon' or 'v_prediction'")


def min_snr_weights(scheduler, t: torch.Tensor, snr_gamma: float, prediction_type: str | None = None) -> torch.Tensor:
    """Min-SNR-γ loss weight per timestep ``t`` (1-D), for ``prediction_type`` (default: the scheduler's)."""
    a = scheduler.alphas_cumprod.to(t.device)[t].double()
    snr = a / (1 - a)
    clipped = snr.clamp(max=float(snr_gamma))
    if (prediction_type or scheduler.config.prediction_type) == "v_prediction":
        return (clipped / (snr + 1)).float()
    return (clipped / snr).float()


MOTION_LOSSES = ("target", "velocity")
COMBINE_SNR_GAMMA = 5.0  # the combine term's Min-SNR clip when snr_gamma is off (see the module docstring)


def _velocity_from_prediction(scheduler, noisy: torch.Tensor, pred: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The ``v`` implied by a prediction of the scheduler's type (``pred`` itself for ``v`` schedulers)."""
    if scheduler.config.prediction_type == "v_prediction":
        return pred
    a = scheduler.alphas_cumprod.to(noisy.device)[t].view(-1, 1, 1, 1, 1).to(noisy.dtype)
    return (pred - (1 - a).sqrt() * noisy) / a.sqrt()  # ε̂ -> v̂: (ε̂ − σ·x_t) / α


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """MSE, or with ``weights`` (one per sample) the weighted mean of each sample's MSE."""
    if weights is None:
        return F.mse_loss(pred.float(), target.float())
    per_video = ((pred.float() - target.float()) ** 2).flatten(1).mean(1)
    return (per_video * weights).mean()


def _predicted_clean(scheduler, noisy: torch.Tensor, pred: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    a = scheduler.alphas_cumprod.to(noisy.device)[t].view(-1, 1, 1, 1, 1).to(noisy.dtype)
    if scheduler.config.prediction_type == "v_prediction":
        return a.sqrt() * noisy - (1 - a).sqrt() * pred
    return (noisy - (1 - a).sqrt() * pred) / a.sqrt()


def dsdn_loss(
    denoiser,
    content_latents: torch.Tensor,
    text: torch.Tensor,
    null_text: torch.Tensor,
    scheduler,
    motion_scale: float,
    motion_weight: float = 1.0,
    text_dropout: float = 0.1,
    combine_weight: float = 0.0,
    motion_coherence: float = 0.5,
    combiner: str = "causal",
    generator: torch.Generator | None = None,
    snr_gamma: float = 0.0,
    motion_loss: str = "target",
    contrast_text: torch.Tensor | None = None,
    contrast_mask: torch.Tensor | None = None,
    contrast_weight: float = 0.0,
    contrast_margin: float = 0.2,
    shared_noise: float = 0.0,
    cross_frame: bool = False,
) -> DSDNLoss:
    """Joint denoising loss of both streams.

    Args:
        denoiser: a :class:`~dsdn.denoiser.DualStreamDenoiser` (or anything with its call signature).
        content_latents: clean, scaled VAE latents ``(B, C, F, h, w)``.
        text: text-encoder states ``(B, L, D)``.
        null_text: states of the empty prompt ``(1, L, D)`` (or ``(B, L, D)``).
        scheduler: a diffusers noise scheduler with ``add_noise`` (e.g. ``DDPMScheduler``).
        motion_scale: ``s_m`` of the motion decomposer.
        motion_weight: ``w_m``.
        text_dropout: probability of replacing a video's text by the empty prompt.
        combine_weight: weight of the optional combiner reconstruction term (see the module docstring).
        motion_coherence: ``γ`` used by that term.
        combiner: the motion combiner used by that term (see :func:`~dsdn.motion_codec.combine_motion`).
        generator: makes timesteps, noises and dropout reproducible.
        snr_gamma: Min-SNR-γ weighting of both streams' errors (0 = off, unweighted; 5 is usual).
        motion_loss: ``"target"`` (the scheduler's prediction target, as for content) or ``"velocity"``
            (the motion error measured on ``v``; see the module docstring).
        contrast_text: states ``(B, L, D)`` of each caption with a direction word swapped (the caption-contrast
            term's negatives; see the module docstring), used with ``contrast_weight`` > 0.
        contrast_mask: ``(B,)`` bool, which clips have a negative.
        contrast_weight: weight of the caption-contrast term (0 = off).
        contrast_margin: its relative margin at the highest noise.
        shared_noise: ρ in [0, 1] of the content stream's mixed noise prior (0 = independent frames).
        cross_frame: run the content stream with cross-frame attention (the denoiser's ``cross_frame``).
    """
    if motion_loss not in MOTION_LOSSES:
        raise ValueError(f"motion_loss={motion_loss!r} is invalid: must be one of {', '.join(MOTION_LOSSES)}")
    b = content_latents.shape[0]
    device = content_latents.device
    z0 = content_latents
    m0 = decompose_motion(z0, motion_scale)
    n_train = scheduler.config.num_train_timesteps
    t = torch.randint(0, n_train, (b,), generator=generator, device="cpu").to(device)
    e_c = torch.randn(z0.shape, generator=generator, device="cpu", dtype=z0.dtype).to(device)
    e_m = torch.randn(m0.shape, generator=generator, device="cpu", dtype=z0.dtype).to(device)
    if shared_noise > 0.0:  # drawn after the others, so that 0 trains exactly as before
        common = torch.randn(z0.shape[:2] + (1,) + z0.shape[3:], generator=generator, device="cpu", dtype=z0.dtype)
        e_c = mix_shared_noise(e_c, common.to(device), shared_noise)
    z_t = scheduler.add_noise(z0, e_c, t)
    m_t = scheduler.add_noise(m0, e_m, t)

    drop = (torch.rand(b, generator=generator, device="cpu") < text_dropout).to(device)
    text = torch.where(drop[:, None, None], null_text.to(text.dtype).expand_as(text), text)

    frames = {"cross_frame": True} if cross_frame else {}
    use_contrast = contrast_weight > 0 and contrast_text is not None and contrast_mask is not None
    if use_contrast:
        keep = contrast_mask.to(device) & ~drop  # a dropped caption has nothing to contrast
        use_contrast = bool(keep.any())
    if use_contrast:
        # One pass over the batch and its negatives: content text stays the clip's own; only the motion
        # stream's text differs. (2B, ...)
        idx = keep.nonzero().flatten()
        pred_c, pred_m_all = denoiser(
            torch.cat([z_t, z_t[idx]]), torch.cat([m_t, m_t[idx]]), torch.cat([t, t[idx]]),
            torch.cat([text, text[idx]]), torch.cat([text, contrast_text.to(text.dtype)[idx]]), **frames,
        )  # fmt: skip
        pred_c, pred_m, pred_neg = pred_c[:b], pred_m_all[:b], pred_m_all[b:]
    else:
        pred_c, pred_m = denoiser(z_t, m_t, t, text, **frames)
    weights = min_snr_weights(scheduler, t, snr_gamma) if snr_gamma > 0 else None
    loss_c = weighted_mse(pred_c, prediction_target(scheduler, z0, e_c, t), weights)
    if motion_loss == "velocity":
        weights_v = min_snr_weights(scheduler, t, snr_gamma, "v_prediction") if snr_gamma > 0 else None
        loss_m = weighted_mse(
            _velocity_from_prediction(scheduler, m_t, pred_m, t), scheduler.get_velocity(m0, e_m, t), weights_v
        )
    else:
        loss_m = weighted_mse(pred_m, prediction_target(scheduler, m0, e_m, t), weights)
    loss = loss_c + motion_weight * loss_m
    loss_contrast = None
    if use_contrast:
        target_m = prediction_target(scheduler, m0[idx], e_m[idx], t[idx]).float()
        e_own = ((pred_m[idx].float() - target_m) ** 2).flatten(1).mean(1)
        e_neg = ((pred_neg.float() - target_m) ** 2).flatten(1).mean(1)
        noise_level = 1 - scheduler.alphas_cumprod.to(device)[t[idx]].float()
        gap = (e_neg - e_own) / e_own.detach().clamp_min(1e-12)
        loss_contrast = F.relu(contrast_margin * noise_level - gap).sum() / b
        loss = loss + contrast_weight * loss_contrast
    loss_comb = None
    if combine_weight > 0:
        z_hat = combine_motion(
            _predicted_clean(scheduler, z_t, pred_c, t),
            _predicted_clean(scheduler, m_t, pred_m, t),
            motion_scale,
            motion_coherence,
            combiner,
        )
        a = scheduler.alphas_cumprod.to(device)[t].double()
        w_comb = (a / (1 - a)).clamp(max=snr_gamma or COMBINE_SNR_GAMMA).float()
        loss_comb = weighted_mse(z_hat, z0, w_comb)
        loss = loss + combine_weight * loss_comb
    return DSDNLoss(loss=loss, content=loss_c.detach(), motion=loss_m.detach(), combine=loss_comb,
                    contrast=None if loss_contrast is None else loss_contrast.detach())  # fmt: skip


def parse_word_pairs(pairs) -> dict[str, str]:
    """``("left:right", "up:down")`` -> a symmetric word map; raises ``ValueError`` on a malformed pair."""
    swap: dict[str, str] = {}
    for pair in pairs:
        words = str(pair).lower().split(":")
        if len(words) != 2 or not all(w.isalpha() for w in words) or words[0] == words[1]:
            raise ValueError(
                f"contrast pair {pair!r} is invalid: write two different words as 'a:b', e.g. 'left:right'"
            )
        for a, b in (words, words[::-1]):
            if swap.setdefault(a, b) != b:
                raise ValueError(f"contrast pair {pair!r} is invalid: {a!r} is already paired with {swap[a]!r}")
    return swap


def swap_pair_words(caption: str, swap: dict[str, str]) -> str | None:
    """``caption`` with each word of ``swap`` replaced by its opposite, or ``None`` when it has none, or names
    both words of a pair (a swap would not change what it says, as in "bouncing up and down")."""
    words = caption.split()
    lower = [w.lower() for w in words]
    found = [w for w in lower if w in swap]
    if not found or any(swap[w] in found for w in found):
        return None
    return " ".join(swap[low] if low in swap else w for w, low in zip(words, lower))
