"""The level-by-level replays must equal diffusers' own forward passes exactly."""

import pytest
import torch

from dsdn._compat import UNet2DLevels, UNet3DLevels
from dsdn.motion_stream import build_motion_unet
from dsdn.tiny import tiny_unet


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
        assert torch.equal(_run(UNet2DLevels(unet, x, t, text)), unet(x, t, text).sample)


@pytest.mark.parametrize("b,f,h,w", [(1, 2, 8, 8), (2, 5, 8, 12), (1, 3, 6, 6)])
def test_unet3d_replay_matches_forward(b, f, h, w):
    motion = build_motion_unet(tiny_unet(), num_heads=4)
    x = torch.randn(b, 4, f, h, w)
    t = torch.randint(0, 1000, (b,))
    text = torch.randn(b, 16, 32)
    with torch.no_grad():
        out = _run(UNet3DLevels(motion, x, t, text))
        assert out.shape == x.shape
        assert torch.equal(out, motion(x, t, text).sample)


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
        assert not torch.equal(run.finish(), ref)
