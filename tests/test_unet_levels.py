"""The level-by-level replays must equal diffusers' own forward passes exactly."""

import pytest
import torch
from conftest import agrees

from dsdn.motion_stream import build_motion_unet
from dsdn.tiny import tiny_unet
from dsdn.unet_levels import UNet2DLevels, UNet3DLevels


def _run(levels):
    for i in range(levels.num_down):
        levels.down(i)
    levels.mid()
    for i in range(levels.num_up):
        levels.up(i)
    return levels.finish()


@pytest.mark.parametrize("n,h,w", [(1, 8, 8), (3, 8, 12), (2, 6, 10)])  # 6 and 10: odd latent grid after down-sampling
def test_unet2d_replay_matches_forward(n, h, w):
    unet = tiny_unet()
    x = torch.randn(n, 4, h, w)
    t = torch.randint(0, 1000, (n,))
    text = torch.randn(n, 16, 32)
    with torch.no_grad():
        assert agrees(_run(UNet2DLevels(unet, x, t, text)), unet(x, t, text).sample)


def test_unet2d_replay_adds_the_pooled_caption_of_a_text_addition_unet():
    """A base with ``addition_embed_type="text"`` (``dsdn train base --pooled-text``) is replayed exactly, and
    the pooled caption counts: leaving it out of the timestep embedding changes the output."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), block_out_channels=(16, 32), layers_per_block=1,
        cross_attention_dim=32, norm_num_groups=8, attention_head_dim=8, addition_embed_type="text",
        addition_embed_type_num_heads=4,
    ).eval()  # fmt: skip
    x, t, text = torch.randn(2, 4, 8, 8), torch.tensor([3, 700]), torch.randn(2, 16, 32)
    with torch.no_grad():
        assert agrees(_run(UNet2DLevels(unet, x, t, text)), unet(x, t, text).sample)
        without = UNet2DLevels(unet, x, t, text)
        without.emb = unet.time_embedding(unet.get_time_embed(sample=x, timestep=t), None)
        if unet.time_embed_act is not None:
            without.emb = unet.time_embed_act(without.emb)
        assert not torch.allclose(_run(without), unet(x, t, text).sample, atol=1e-4)


@pytest.mark.parametrize("b,f,h,w", [(1, 2, 8, 8), (2, 5, 8, 12), (1, 3, 6, 6)])
def test_unet3d_replay_matches_forward(b, f, h, w):
    motion = build_motion_unet(tiny_unet(), num_heads=4)
    x = torch.randn(b, 4, f, h, w)
    t = torch.randint(0, 1000, (b,))
    text = torch.randn(b, 16, 32)
    with torch.no_grad():
        out = _run(UNet3DLevels(motion, x, t, text))
        assert out.shape == x.shape
        assert agrees(out, motion(x, t, text).sample)


def test_writing_h_after_down_changes_the_skip_connection():
    unet = tiny_unet()
    x, t, text = torch.randn(1, 4, 8, 8), torch.tensor([5]), torch.randn(1, 16, 32)
    with torch.no_grad():
        ref = _run(UNet2DLevels(unet, x, t, text))
        run = UNet2DLevels(unet, x, t, text)
        h = run.down(0)
        run.h = h + 1.0
        for i in range(1, run.num_down):
            run.down(i)
        assert torch.equal(run.res[2], h + 1.0)  # conv_in, resnet, (downsampled output) <- replaced
        run.mid()
        for i in range(run.num_up):
            run.up(i)
        assert not agrees(run.finish(), ref)


@pytest.mark.parametrize("three_d", [False, True])
def test_checkpointed_blocks_give_the_same_output_and_gradients(three_d):
    """``checkpoint_blocks`` recomputes each block in the backward pass (diffusers' UNet3D cannot checkpoint itself):
    the same loss and the same gradients, with fewer activations kept."""
    from dsdn.unet_levels import checkpoint_blocks

    torch.manual_seed(0)
    unet = build_motion_unet(tiny_unet(), num_heads=4) if three_d else tiny_unet()
    x = torch.randn(2, 4, 3, 8, 8) if three_d else torch.randn(2, 4, 8, 8)
    t, text = torch.tensor([10, 600]), torch.randn(2, 16, 32)
    levels = UNet3DLevels if three_d else UNet2DLevels

    def grads():
        unet.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same dropout masks in both runs (a checkpoint replays its block's own)
        out = _run(levels(unet, x, t, text))
        (out**2).mean().backward()
        return out.detach(), [p.grad.clone() for p in unet.parameters() if p.grad is not None]

    plain_out, plain = grads()
    checkpoint_blocks(unet)
    ckpt_out, ckpt = grads()
    assert agrees(ckpt_out, plain_out) and len(ckpt) == len(plain) > 0
    assert all(agrees(a, b, atol=1e-6) for a, b in zip(ckpt, plain))
