"""VBench's temporal-quality formulas, offline: no weights are downloaded.

VBench (Huang et al., 2024) scores a video's temporal quality on four dimensions; three of them have a
formula that needs no particular network, and are computed here with the tools this package already has:

* :func:`subject_consistency` — VBench's formula over per-frame features: the mean over frames ``t ≥ 2`` of
  ``(max(0, cos(f_t, f_{t-1})) + max(0, cos(f_t, f_1))) / 2``. VBench uses DINO features; the benchmark
  gives the toy-world judge's (:meth:`~dsdn.evaluation.judge.ToyJudge.frame_features`), which tell the
  toy world's objects apart. **Higher is better** (1 for frames the features cannot tell apart).
* :func:`motion_smoothness` — VBench's formula with a flow-based interpolator in place of its AMT network:
  the odd frames are dropped, each is interpolated from its two neighbours (Farneback flow both ways, the
  midpoint flows of Jiang et al.'s Super SloMo), and the score is ``(255 − mean absolute error) / 255``
  against the dropped frames. **Higher is better** (1 when every frame lies midway along the motion).
* :func:`temporal_flickering` — VBench's formula: ``(255 − mean absolute change between consecutive frames)
  / 255``. VBench applies it to static clips only; over a clip that moves it counts the motion as well, so
  read it next to the dynamic degree. **Higher is better.**
"""

from __future__ import annotations

import numpy as np

from .metrics import as_uint8, optical_flow, warp


def subject_consistency(features: np.ndarray) -> float:
    """VBench's subject consistency of per-frame features ``(F, D)``, F ≥ 2."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (F >= 2, D), got {x.shape}")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    previous = np.maximum(0.0, (x[1:] * x[:-1]).sum(axis=1))
    first = np.maximum(0.0, x[1:] @ x[0])
    return float(((previous + first) / 2).mean())


def midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The frame midway between RGB frames ``a`` and ``b`` (uint8 ``(H, W, 3)``), interpolated along their
    optical flow: float ``(H, W, 3)`` in grey levels."""
    import cv2

    ga, gb = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (a, b))
    ab, ba = optical_flow(ga, gb), optical_flow(gb, ga)
    to_a, to_b = 0.25 * (ba - ab), 0.25 * (ab - ba)  # Super SloMo's flows from t = 1/2 to each end
    return 0.5 * (warp(a.astype(np.float32), to_a) + warp(b.astype(np.float32), to_b))


def motion_smoothness(frames: np.ndarray) -> float:
    """VBench's motion smoothness of ``(F, H, W, 3)`` frames (F ≥ 3): frames 1, 3, … (0-based) rebuilt from
    their neighbours; frames without a right neighbour are not scored."""
    f = as_uint8(frames)
    if len(f) < 3:
        raise ValueError(f"motion smoothness needs at least 3 frames, got {len(f)}")
    errors = [np.abs(midpoint(f[i - 1], f[i + 1]) - f[i].astype(np.float32)).mean() for i in range(1, len(f) - 1, 2)]
    return float((255.0 - np.mean(errors)) / 255.0)


def temporal_flickering(frames: np.ndarray) -> float:
    """VBench's temporal flickering of ``(F, H, W, 3)`` frames (F ≥ 2)."""
    f = as_uint8(frames).astype(np.float32)
    if len(f) < 2:
        raise ValueError(f"a video needs at least 2 frames, got {len(f)}")
    return float((255.0 - np.abs(f[1:] - f[:-1]).mean()) / 255.0)
