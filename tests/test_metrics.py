"""Video metrics: known answers on constructed videos (no weights needed)."""

import numpy as np
import pytest

from dsdn.evaluation.metrics import (
    clip_frame_consistency,
    clip_text_alignment,
    dynamic_degree,
    frame_consistency,
    frechet_distance,
    mean_flow,
    static_flicker,
    warping_error,
)


def texture(size: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (uint8), trackable by optical flow."""
    import cv2

    noise = np.random.default_rng(seed).random((size, size, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (smooth * 255).astype(np.uint8)


def shifted(dx: int, dy: int, frames: int = 6, seed: int = 0) -> np.ndarray:
    big = np.tile(texture(seed=seed), (2, 2, 1))
    return np.stack([np.roll(big, (i * dy, i * dx), axis=(0, 1))[32:96, 32:96] for i in range(frames)])


def test_identical_frames_have_no_flicker_no_motion_and_full_consistency():
    video = np.repeat(texture()[None], 5, axis=0)
    assert warping_error(video) == pytest.approx(0.0, abs=1e-3)  # Farneback leaves ~1e-2 px of flow
    assert static_flicker(video) == pytest.approx(0.0, abs=1e-6)
    assert dynamic_degree(video) < 0.01  # pixels per frame
    feats = np.repeat(np.random.default_rng(0).normal(size=(1, 10)), 5, axis=0)
    assert frame_consistency(feats) == pytest.approx(1.0)


@pytest.mark.parametrize("dx,dy", [(2, 0), (-3, 0), (0, 2), (0, -1)])
def test_a_known_shift_is_recovered_in_direction_and_magnitude(dx, dy):
    video = shifted(dx, dy)
    flow = mean_flow(video)
    assert flow[0] == pytest.approx(dx, abs=0.3) and flow[1] == pytest.approx(dy, abs=0.3)
    assert dynamic_degree(video) == pytest.approx(np.hypot(dx, dy), abs=0.4)


def test_a_shuffled_or_flickered_video_scores_worse_than_its_clean_source():
    clean = shifted(2, 0, frames=8)
    shuffled = clean[np.random.default_rng(0).permutation(8)]
    assert warping_error(shuffled) > 2 * warping_error(clean)

    still = np.repeat(texture(seed=1)[None], 8, axis=0)
    gain = np.random.default_rng(1).uniform(0.85, 1.15, size=(8, 1, 1, 1))
    flickered = np.clip(still * gain, 0, 255).astype(np.uint8)
    assert static_flicker(flickered) > 0.02 > static_flicker(still)
    assert warping_error(flickered) > warping_error(still) + 0.01


def test_frame_consistency_drops_for_unrelated_frames():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1, 32))
    similar = base + 0.1 * rng.normal(size=(6, 32))
    unrelated = rng.normal(size=(6, 32))
    assert frame_consistency(similar) > 0.9 > frame_consistency(unrelated)


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift():
    x = np.random.default_rng(0).normal(size=(500, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    d = [frechet_distance(x, x + shift) for shift in (0.1, 0.5, 2.0)]
    assert d[0] < d[1] < d[2]
    assert d[2] == pytest.approx(8 * 2.0**2, rel=1e-6)  # |Δμ|² with equal covariances
    wider = np.random.default_rng(1).normal(size=(500, 8)) * 2
    assert frechet_distance(x, wider) > 4


@pytest.mark.parametrize("bad", [np.zeros((4, 8, 8)), np.zeros((1, 8, 8, 3), np.uint8)])
def test_metrics_refuse_malformed_videos(bad):
    with pytest.raises(ValueError):
        warping_error(bad)


@pytest.fixture(scope="module")
def tiny_clip():
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from dsdn.tiny import tiny_clip_tokenizer

    torch.manual_seed(0)
    tok = tiny_clip_tokenizer(["a", "red", "circle", "blue", "square"])
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_attention_heads=4,
                         num_hidden_layers=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )  # fmt: skip
    model = CLIPModel(config).eval()
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return model, CLIPProcessor(image_processor=images, tokenizer=tok)


def test_clip_metrics_follow_the_paper_protocol(tiny_clip):
    model, processor = tiny_clip
    same = np.repeat(texture(32)[None], 4, axis=0)
    assert clip_frame_consistency(same, model, processor) == pytest.approx(1.0, abs=1e-5)
    mixed = np.stack([texture(32, seed=s) for s in range(4)])
    assert clip_frame_consistency(mixed, model, processor) < clip_frame_consistency(same, model, processor)
    score = clip_text_alignment(same, "a red circle", model, processor)
    assert -100 <= score <= 100
    # The score is 100 × the cosine of the (normalised) frame and prompt embeddings, averaged over frames.
    single = clip_text_alignment(same[:1], "a red circle", model, processor)
    assert score == pytest.approx(single, abs=1e-4)


def test_video_metrics_shares_flows_without_changing_any_figure():
    from dsdn.evaluation.metrics import video_metrics

    video = shifted(2, 1, frames=5)
    shared = video_metrics(video)
    from dsdn.evaluation.vbench import motion_smoothness, temporal_flickering

    assert shared == {"warping_error": warping_error(video), "static_flicker": static_flicker(video),
                      "dynamic_degree": dynamic_degree(video), "temporal_flickering": temporal_flickering(video),
                      "motion_smoothness": motion_smoothness(video)}  # fmt: skip
