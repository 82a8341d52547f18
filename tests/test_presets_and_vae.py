import pytest
import torch
from accelerate import init_empty_weights
from diffusers import UNet2DConditionModel

from dsdn import ContentStream, DSDNInputError, DualStreamDenoiser, FrameVAE
from dsdn.loading import sd15_config_dir
from dsdn.presets import PRESETS, AdapterPreset, get_preset
from dsdn.tiny import tiny_unet, tiny_vae


def test_tiny_preset_builds_a_working_adapter():
    unet = tiny_unet()
    adapter = get_preset("tiny").build(unet, motion_scale=1.7)
    assert adapter.config.motion_scale == 1.7
    den = DualStreamDenoiser(
        ContentStream(unet, lora_rank=adapter.config.lora_rank), adapter.motion_unet, adapter.interaction
    )
    z = torch.randn(1, 4, 3, 8, 8)
    with torch.no_grad():
        ec, em = den(z, z, torch.tensor([10]), torch.randn(1, 16, 32))
    assert ec.shape == em.shape == z.shape


def test_sd15_preset_pairs_with_the_sd15_unet():
    cfg = UNet2DConditionModel.load_config(sd15_config_dir() / "unet")
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(cfg)
        adapter = PRESETS["sd15"].build(unet)
    assert len(adapter.interaction.blocks) == 9  # 4 down + mid + 4 up
    n = sum(p.numel() for p in adapter.parameters())
    assert 50e6 < n < 400e6, n  # a motion stream far smaller than the 860M content UNet


def test_preset_validation_and_yaml(tmp_path):
    with pytest.raises(DSDNInputError, match="motion_coherence"):
        AdapterPreset(motion_coherence=2.0)
    with pytest.raises(DSDNInputError, match="unknown preset keys"):
        AdapterPreset.from_dict({"lora_rnk": 4})
    with pytest.raises(DSDNInputError, match="preset='huge'"):
        get_preset("huge")
    p = tmp_path / "p.yaml"
    p.write_text("motion_channels: [16, 32]\nlora_rank: 2\n")
    preset = AdapterPreset.from_yaml(p)
    assert preset.motion_channels == (16, 32) and preset.lora_rank == 2


def test_a_preset_can_leave_the_text_cross_attention_out_of_the_inflation(tmp_path):
    unet = tiny_unet(seed=5)
    base = {n.replace(".base_layer.", "."): v for n, v in unet.state_dict().items()}
    p = tmp_path / "fresh_attn2.yaml"
    p.write_text("motion_top_attention: false\ninflate_cross_attention: false\n")
    fresh = AdapterPreset.from_yaml(p).build(unet).motion_unet.state_dict()
    full = get_preset("tiny").build(unet).motion_unet.state_dict()
    shared = [n for n in base if n in full and full[n].shape == base[n].shape]
    attn2 = [n for n in shared if ".attn2." in n]
    others = [n for n in shared if ".attn2." not in n]
    assert attn2 and others
    assert all(torch.equal(full[n], base[n]) for n in attn2)  # the control: tiny copies them
    assert not any(torch.equal(fresh[n], base[n]) for n in attn2 if n.endswith(("to_k.weight", "to_v.weight")))
    assert all(torch.equal(fresh[n], base[n]) for n in others)


def test_frame_vae_shapes_scaling_and_chunking():
    vae = tiny_vae()
    video = torch.rand(2, 3, 5, 16, 16) * 2 - 1  # (B, 3, F, H, W)
    fv = FrameVAE(vae, chunk_size=3)
    z = fv.encode(video, sample=False)
    assert z.shape == (2, 4, 5, 8, 8) and fv.scale_factor == 2
    raw = z / fv.scaling_factor
    vae.register_to_config(scaling_factor=0.5)  # the VAE's own factor is used, never a constant
    z_half = FrameVAE(vae).encode(video, sample=False)
    torch.testing.assert_close(z_half, raw * 0.5)
    out_chunked = FrameVAE(vae, chunk_size=2).decode(z_half)
    out_whole = FrameVAE(vae, chunk_size=100).decode(z_half)
    assert out_chunked.shape == (2, 3, 5, 16, 16)
    torch.testing.assert_close(out_chunked, out_whole, atol=1e-5, rtol=1e-5)


def test_the_experiment_presets_in_scripts_load():
    from pathlib import Path

    files = sorted((Path(__file__).resolve().parents[1] / "scripts" / "presets").glob("*.yaml"))
    assert files
    for f in files:
        preset = AdapterPreset.from_yaml(f)
        assert preset.to_dict() != get_preset("tiny").to_dict() or f.stem == "tiny"
