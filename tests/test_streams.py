"""ContentStream (frozen base + LoRA), MotionStream and the DualStreamDenoiser."""

import pytest
import torch

from dsdn import ContentStream, DSDNAdapter, DualStreamDenoiser
from dsdn.motion_stream import build_motion_unet, motion_unet_config
from dsdn.tiny import tiny_unet


def _frames_forward(unet, z, t, text):
    """Reference: the base UNet on every frame, (B, C, F, h, w)."""
    b, c, f, h, w = z.shape
    out = unet(z.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w), t.repeat_interleave(f), text.repeat_interleave(f, 0))
    return out.sample.reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)


def _inputs(b=2, f=3, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, 4, f, h, w, generator=g),
        torch.randn(b, 4, f, h, w, generator=g),
        torch.randint(0, 1000, (b,), generator=g),
        torch.randn(b, 16, 32, generator=g),
    )


def _denoiser(seed=0):
    unet = tiny_unet(seed=seed)
    adapter = DSDNAdapter.for_base(unet, motion_num_heads=4)
    return DualStreamDenoiser(ContentStream(unet), adapter.motion_unet, adapter.interaction), adapter


def test_fresh_content_stream_equals_base_exactly():
    z, _, t, text = _inputs()
    stream = ContentStream(tiny_unet(seed=0), lora_rank=4)
    with torch.no_grad():
        assert torch.equal(stream(z, t, text), _frames_forward(tiny_unet(seed=0), z, t, text))


def test_lora_scale_zero_equals_base_after_training_like_change():
    z, _, t, text = _inputs()
    stream = ContentStream(tiny_unet(seed=0), lora_rank=4)
    with torch.no_grad():
        for _, p in stream.lora_parameters():
            p.add_(torch.randn_like(p) * 0.1)
        base = _frames_forward(tiny_unet(seed=0), z, t, text)
        assert not torch.allclose(stream(z, t, text), base)
        assert torch.equal(stream(z, t, text, lora_scale=0.0), base)
        full = stream(z, t, text)
        assert torch.equal(stream(z, t, text, lora_scale=1.0), full)  # scale restored after use
        half = stream(z, t, text, lora_scale=0.5)
        assert not torch.allclose(half, full) and not torch.allclose(half, base)


def test_cross_frame_attention_makes_every_frame_read_the_first_frame_and_no_other():
    z, _, t, text = _inputs(b=2, f=4)
    stream = ContentStream(tiny_unet(seed=0), lora_rank=4)
    with torch.no_grad():
        for _, p in stream.lora_parameters():
            p.add_(torch.randn_like(p) * 0.1)  # the LoRA'd projections too
        plain = stream(z, t, text)
        with stream.cross_frame(4):
            cross = stream(z, t, text)
            moved_third = z.clone()
            moved_third[:, :, 2] += torch.randn_like(z[:, :, 2])
            after_third = stream(moved_third, t, text)
            moved_first = z.clone()
            moved_first[:, :, 0] += torch.randn_like(z[:, :, 0])
            after_first = stream(moved_first, t, text)
        assert torch.equal(stream(z, t, text), plain)  # the processors are put back
    torch.testing.assert_close(cross[:, :, 0], plain[:, :, 0])  # frame 1 attends to itself either way
    assert not torch.allclose(cross[:, :, 1:], plain[:, :, 1:], atol=1e-4)
    # frame 2 reads frame 1 and itself, never frame 3; and each clip reads only its own first frame
    torch.testing.assert_close(after_third[:, :, [0, 1, 3]], cross[:, :, [0, 1, 3]])
    assert not torch.allclose(after_first[:, :, 1], cross[:, :, 1], atol=1e-4)
    with stream.cross_frame(4):
        one_clip = stream(z[1:], t[1:], text[1:])
    torch.testing.assert_close(one_clip, cross[1:])


def test_base_weights_are_frozen_and_lora_is_injected_by_peft():
    stream = ContentStream(tiny_unet(), lora_rank=2)
    names = [n for n, _ in stream.lora_parameters()]
    assert names and all("lora_" in n for n in names)
    assert any("to_q" in n for n in names) and any("to_out" in n for n in names)
    assert not any(p.requires_grad for n, p in stream.unet.named_parameters() if "lora_" not in n)


@pytest.mark.parametrize("b,f,h,w", [(1, 2, 8, 8), (2, 4, 8, 12), (3, 3, 4, 4), (1, 8, 16, 8)])
def test_denoiser_shapes(b, f, h, w):
    den, _ = _denoiser()
    z, m, t, text = _inputs(b, f, h, w)
    with torch.no_grad():
        ec, em = den(z, m, t, text)
    assert ec.shape == z.shape and em.shape == m.shape


def test_fresh_denoiser_streams_equal_their_own_unets():
    den, adapter = _denoiser()
    z, m, t, text = _inputs()
    motion_text = torch.randn(2, 16, 32)
    with torch.no_grad():
        ec, em = den(z, m, t, text, motion_text)
        assert torch.equal(ec, _frames_forward(tiny_unet(seed=0), z, t, text))
        assert torch.equal(em, adapter.motion_unet(m, t, motion_text).sample)


@pytest.mark.slow
def test_interaction_couples_the_streams_once_trained():
    den, adapter = _denoiser()
    with torch.no_grad():
        for p in adapter.interaction.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        z, m, t, text = _inputs()
        ec, em = den(z, m, t, text)
        ec2, em2 = den(z, m + 1.0, t, text)  # motion input changes -> content prediction changes
        assert not torch.allclose(ec, ec2)
        no_int = DualStreamDenoiser(den.content, den.motion_unet, None)
        assert torch.equal(no_int(z, m, t, text)[0], no_int(z, m + 1.0, t, text)[0])


def test_trainable_set_is_lora_motion_and_interaction_only():
    den, adapter = _denoiser()
    params = den.set_trainable()
    names = [n for n, _ in den.trainable_parameters()]
    assert len(params) == len(names)
    n_motion = len(list(adapter.motion_unet.parameters()))
    n_inter = len(list(adapter.interaction.parameters()))
    n_lora = len([n for n in names if "lora_" in n])
    assert n_lora > 0 and len(names) == n_motion + n_inter + n_lora
    base = [p for n, p in den.content.unet.named_parameters() if "lora_" not in n]
    assert base and not any(p.requires_grad for p in base)


def test_motion_config_pairs_levels_and_rejects_bad_widths():
    unet = tiny_unet(block_out_channels=(32, 64, 64))
    cfg = motion_unet_config(unet.config, block_out_channels=(16, 32, 32), num_heads=2)
    assert cfg["down_block_types"] == ["DownBlock3D", "CrossAttnDownBlock3D", "CrossAttnDownBlock3D"]
    assert cfg["up_block_types"] == ["CrossAttnUpBlock3D", "CrossAttnUpBlock3D", "UpBlock3D"]
    with pytest.raises(ValueError, match="one per level"):
        motion_unet_config(unet.config, block_out_channels=(16, 32))
    with pytest.raises(ValueError, match="must divide"):
        motion_unet_config(unet.config, block_out_channels=(12, 32, 32))


def test_inflation_copies_matching_spatial_weights():
    unet = tiny_unet(seed=5)
    motion = build_motion_unet(unet, inflate=True, num_heads=4)
    sd = unet.state_dict()
    ms = motion.state_dict()
    assert torch.equal(ms["conv_in.weight"], sd["conv_in.weight"])
    assert torch.equal(ms["down_blocks.0.resnets.0.conv1.weight"], sd["down_blocks.0.resnets.0.conv1.weight"])
    assert not any(k.startswith("transformer_in") for k in sd)  # temporal layers have no 2D source


def test_three_level_content_unet_pairs_with_narrower_motion_stream():
    unet = tiny_unet(block_out_channels=(32, 64, 64))
    adapter = DSDNAdapter.for_base(unet, motion_channels=(16, 32, 32), motion_num_heads=2)
    den = DualStreamDenoiser(ContentStream(unet), adapter.motion_unet, adapter.interaction)
    z, m, t, text = _inputs(1, 3, 8, 8)
    with torch.no_grad():
        ec, em = den(z, m, t, text)
    assert ec.shape == em.shape == z.shape


def _text_embedding_denoiser():
    unet = tiny_unet(seed=0)
    torch.manual_seed(0)
    adapter = DSDNAdapter.for_base(unet, motion_num_heads=4, motion_pooled_text=True)
    den = DualStreamDenoiser.from_adapter(ContentStream(unet), adapter)
    return den, adapter


def test_from_adapter_takes_every_adapter_part_and_drops_only_the_interaction_for_the_ablation():
    den, adapter = _text_embedding_denoiser()
    assert den.motion_unet is adapter.motion_unet and den.interaction is adapter.interaction
    assert den.motion_text_embedding is adapter.motion_text_embedding
    ablation = DualStreamDenoiser.from_adapter(den.content, adapter, use_interaction=False)
    assert ablation.interaction is None and ablation.motion_text_embedding is adapter.motion_text_embedding


def test_fresh_pooled_text_embedding_leaves_the_motion_stream_unchanged_and_acts_once_trained():
    den, adapter = _text_embedding_denoiser()
    z, m, t, text = _inputs()
    other_text = torch.randn(2, 16, 32)
    with torch.no_grad():
        em = den(z, m, t, text)[1]
        assert torch.equal(em, adapter.motion_unet(m, t, text).sample)  # zero-initialised output layer
        for p in adapter.motion_text_embedding.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        trained = den(z, m, t, text)[1]
        assert not torch.allclose(trained, em)
        # the offset is a function of the caption alone: the same for every clip with that caption
        pooled = adapter.motion_text_embedding(text)
        assert pooled.shape == (2, adapter.motion_unet.time_embedding.linear_2.out_features)
        assert not torch.allclose(pooled, adapter.motion_text_embedding(other_text))
    names = [n for n, _ in den.trainable_parameters()]
    n_pool = len(list(adapter.motion_text_embedding.parameters()))
    assert n_pool == 7 and len([n for n in names if n.startswith("motion_text_embedding.")]) == n_pool


@pytest.mark.slow
def test_pooled_text_embedding_gets_gradients_and_round_trips(tmp_path):
    den, adapter = _text_embedding_denoiser()
    den.set_trainable()
    z, m, t, text = _inputs()
    den(z, m, t, text)[1].square().mean().backward()
    assert adapter.motion_text_embedding.mlp.linear_2.weight.grad.abs().sum() > 0
    with torch.no_grad():
        for p in adapter.motion_text_embedding.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    adapter.save_pretrained(tmp_path)
    again = DSDNAdapter.from_pretrained(tmp_path)
    assert again.config.motion_pooled_text
    for (n, p), (n2, p2) in zip(adapter.motion_text_embedding.state_dict().items(),
                                again.motion_text_embedding.state_dict().items()):  # fmt: skip
        assert n == n2 and torch.equal(p, p2)
    assert DSDNAdapter.for_base(tiny_unet(), motion_num_heads=4).motion_text_embedding is None
