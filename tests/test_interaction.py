import pytest
import torch
from conftest import agrees

from dsdn import DualStreamInteraction
from dsdn.interaction import CrossStreamBlock, _attend, _windowed


@pytest.mark.parametrize("cc,cm", [(32, 32), (32, 16), (64, 96)])
def test_fresh_block_is_identity_for_any_widths(cc, cm):
    block = CrossStreamBlock(cc, cm, head_dim=8)
    hc, hm = torch.randn(6, cc, 4, 5), torch.randn(6, cm, 4, 5)
    oc, om = block(hc, hm, num_frames=3)
    assert agrees(oc, hc) and agrees(om, hm)


def _perturbed(block):
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return block


def test_fresh_block_with_a_position_bias_is_identity_too():
    block = CrossStreamBlock(16, 8, head_dim=8, locality=0.125)
    hc, hm = torch.randn(6, 16, 4, 5), torch.randn(6, 8, 4, 5)
    oc, om = block(hc, hm, num_frames=3)
    assert agrees(oc, hc) and agrees(om, hm)
    with pytest.raises(ValueError, match="locality"):
        CrossStreamBlock(16, 8, locality=-0.1)


def test_zero_bias_is_diffusers_attention_and_a_narrow_one_keeps_the_exchange_local():
    torch.manual_seed(0)
    block = _perturbed(CrossStreamBlock(16, 8, head_dim=8, locality=0.05))
    x, ctx = torch.randn(3, 20, 16), torch.randn(3, 20, 8)
    plain = block.content_from_motion(x, encoder_hidden_states=ctx)
    torch.testing.assert_close(_attend(block.content_from_motion, x, ctx, torch.zeros(20, 20)), plain)
    hc, hm = torch.randn(2, 16, 8, 8), torch.randn(2, 8, 8, 8)
    oc, _ = block(hc, hm, num_frames=1)
    hm2 = hm.clone()
    hm2[0, :, 7, 7] += torch.randn(8) * 3  # the motion state at one corner of video 0
    oc2, _ = block(hc, hm2, num_frames=1)
    change = (oc2 - oc)[0].abs().amax(0)  # (8, 8) per content position
    assert change[7, 7] > 0.1 and change[0, 0] == 0 and change[:4, :4].max() < 1e-6
    # Without the bias the same change reaches every position.
    block.log_locality = None
    oc, _ = block(hc, hm, num_frames=1)
    oc2, _ = block(hc, hm2, num_frames=1)
    assert (oc2 - oc)[0].abs().amax(0).min() > 0


def test_position_bias_is_learned_and_spans_the_temporal_window():
    torch.manual_seed(0)
    block = _perturbed(CrossStreamBlock(8, 8, head_dim=8, window=1, locality=0.2))
    f = 3
    hc, hm = torch.randn(2 * f, 8, 4, 4), torch.randn(2 * f, 8, 4, 4)
    oc, om = block(hc, hm, num_frames=f)
    (oc.square().mean() + om.square().mean()).backward()
    assert block.log_locality.grad is not None and block.log_locality.grad != 0
    hm2 = hm.clone()
    hm2[1] += torch.randn(8, 4, 4)  # video 0, frame 1
    oc2, _ = block(hc, hm2, num_frames=f)
    assert ((oc2 - oc).flatten(1).abs().amax(1) > 0).tolist() == [True, True, True, False, False, False]


def test_exchange_is_bidirectional_and_per_frame():
    torch.manual_seed(0)
    block = _perturbed(CrossStreamBlock(16, 8, head_dim=8))
    b, f = 2, 3
    hc, hm = torch.randn(b * f, 16, 4, 4), torch.randn(b * f, 8, 4, 4)
    oc, om = block(hc, hm, num_frames=f)
    assert oc.shape == hc.shape and om.shape == hm.shape
    # Changing the motion state of frame 1 changes the content of frame 1 only (window 0).
    # (A random change, not a constant one, which the blocks' normalisation would remove.)
    hm2 = hm.clone()
    hm2[1] += torch.randn(hm2[1].shape)
    oc2, _ = block(hc, hm2, num_frames=f)
    assert _changed_frames(oc, oc2) == [False, True, False, False, False, False]
    # ... and the content state drives motion.
    hc2 = hc.clone()
    hc2[4] += torch.randn(hc2[4].shape)
    _, om2 = block(hc2, hm, num_frames=f)
    assert _changed_frames(om, om2) == [False, False, False, False, True, False]


def _changed_frames(before, after):
    """Per frame: changed clearly (> 1e-4), or not at all (bit-identical); anything between fails."""
    diff = (after - before).flatten(1).abs().amax(1)
    assert bool(((diff == 0) | (diff > 1e-4)).all()), diff
    return (diff > 0).tolist()


def test_temporal_window_reaches_neighbours_but_not_other_videos():
    torch.manual_seed(0)
    block = _perturbed(CrossStreamBlock(8, 8, head_dim=8, window=1))
    f = 3
    hc, hm = torch.randn(2 * f, 8, 2, 2), torch.randn(2 * f, 8, 2, 2)
    oc, _ = block(hc, hm, num_frames=f)
    hm2 = hm.clone()
    hm2[1] += torch.randn(hm2[1].shape)  # video 0, frame 1
    oc2, _ = block(hc, hm2, num_frames=f)
    assert _changed_frames(oc, oc2) == [True, True, True, False, False, False]


def test_windowed_context_shape_and_edges():
    tokens = torch.arange(2 * 3, dtype=torch.float32).view(6, 1, 1)  # B=2, F=3, T=1, C=1
    ctx = _windowed(tokens, 3, 1)
    assert ctx.shape == (6, 3, 1)
    assert ctx[0].flatten().tolist() == [0, 0, 1]  # edge repeated
    assert ctx[5].flatten().tolist() == [4, 5, 5]


def test_interaction_model_levels_and_save_load(tmp_path):
    model = DualStreamInteraction(
        content_channels=(32, 64, 64, 64, 32), motion_channels=(16, 32, 32, 32, 16), head_dim=8
    )
    assert len(model.blocks) == 5
    _perturbed(model)
    model.save_pretrained(tmp_path)
    again = DualStreamInteraction.from_pretrained(tmp_path)
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(ValueError, match="level counts differ"):
        DualStreamInteraction(content_channels=(8, 8), motion_channels=(8,))
