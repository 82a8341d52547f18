"""VBench's temporal-quality formulas (dsdn.evaluation.vbench): known answers and defects that must score worse."""

import numpy as np
import pytest
from test_metrics import shifted, texture

from dsdn.evaluation.vbench import motion_smoothness, subject_consistency, temporal_flickering


def toy_clip(motion: str = "right", seed: int = 3) -> np.ndarray:
    from dsdn.data.toy_world import ClipSpec, render_clip

    return render_clip(ClipSpec("square", "red", motion, speed="quickly", background="textured", seed=seed,
                                version="v3"))  # fmt: skip


def test_a_still_clip_scores_full_marks():
    still = np.repeat(texture()[None], 6, axis=0)
    assert temporal_flickering(still) == 1.0
    assert motion_smoothness(still) == pytest.approx(1.0, abs=2e-3)
    assert subject_consistency(np.repeat(np.random.default_rng(0).normal(size=(1, 8)), 6, axis=0)) == pytest.approx(1.0)


def test_subject_consistency_is_vbenchs_mean_of_previous_and_first_frame_similarity_clamped_at_zero():
    e = np.eye(4)
    # Frame 2 like frame 1: (1 + 1) / 2; frame 3 opposite to both: (0 + 0) / 2 (negative similarity counts 0);
    # frame 4 orthogonal to frame 3 and like frame 1: (0 + 1) / 2.
    feats = np.stack([e[0], 2 * e[0], -e[0], e[0] + e[1] * 0])
    assert subject_consistency(feats) == pytest.approx((1.0 + 0.0 + 0.5) / 3)


def test_steady_motion_is_smooth_and_a_stutter_or_a_shuffle_is_not():
    clip = shifted(2, 0, frames=8)
    stutter = clip.copy()
    stutter[3] = stutter[2]  # frame 4 repeats frame 3: the motion stops, then jumps
    assert motion_smoothness(clip) > 0.99
    assert motion_smoothness(clip) > motion_smoothness(stutter) + 0.01
    assert motion_smoothness(clip) > motion_smoothness(clip[[0, 5, 2, 7, 4, 1, 6, 3]]) + 0.05
    for motion in ("right", "up"):  # real toy clips: their frames lie (nearly) midway along the motion
        real = toy_clip(motion)
        assert motion_smoothness(real) > 0.98 > 0.95 > motion_smoothness(real[[0, 5, 2, 7, 4, 1, 6, 3]])


def test_flicker_lowers_temporal_flickering():
    still = np.repeat(texture(seed=1)[None], 8, axis=0)
    gain = np.random.default_rng(1).uniform(0.85, 1.15, size=(8, 1, 1, 1))
    flickered = np.clip(still * gain, 0, 255).astype(np.uint8)
    assert temporal_flickering(flickered) < 0.98 < temporal_flickering(toy_clip())


@pytest.mark.parametrize("call,frames", [(motion_smoothness, 2), (temporal_flickering, 1)])
def test_too_few_frames_are_refused(call, frames):
    with pytest.raises(ValueError, match="frames"):
        call(np.zeros((frames, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="features"):
        subject_consistency(np.zeros((1, 4)))
