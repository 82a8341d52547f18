"""Video metrics: pure functions over frame arrays (and feature arrays), no weights to download.

Frames are ``(F, H, W, 3)``, uint8 or floats in [0, 1]. Each metric says which way is better.
Optical flow is OpenCV's Farneback (no weights), computed on grey frames.

* :func:`warping_error` — flicker: how badly frame ``t`` warped by the flow predicts frame ``t+1``
  (occluded pixels masked). **Lower is better**, but a static video scores 0: read it together
  with :func:`dynamic_degree`.
* :func:`static_flicker` — pixel temporal flicker where nothing moves. **Lower is better.**
* :func:`dynamic_degree` — mean flow magnitude, pixels per frame. **Neither**: compare it with real
  videos (a method far below them is too static to be judged on flicker).
* :func:`frame_consistency` — mean cosine similarity of consecutive frames' features. **Higher is better.**
* :func:`frechet_distance` — Fréchet distance between two feature sets. **Lower is better.**
* :func:`clip_frame_consistency`, :func:`clip_text_alignment` — the paper's CLIP protocol, given a
  CLIP model from a local path. **Higher is better.**
"""

from __future__ import annotations

import numpy as np

FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def as_uint8(frames: np.ndarray) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 from uint8 or [0, 1] floats; refuses other shapes."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        if not np.isfinite(frames).all():
            raise ValueError("frames contain NaN or infinite values")
        frames = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    return frames


def _grey(frames: np.ndarray) -> list[np.ndarray]:
    import cv2

    return [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in as_uint8(frames)]


def optical_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farneback flow ``(H, W, 2)`` from grey image ``a`` to grey image ``b``: ``a[y, x] ≈ b[y + dy, x + dx]``."""
    import cv2

    return cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK)


class PairFlows:
    """Grey frames of a video and the Farneback flows of its consecutive pairs, each computed at
    most once (forward ``t → t+1`` and backward ``t+1 → t``), so that several metrics of one
    video share them (see :func:`video_metrics`)."""

    def __init__(self, frames: np.ndarray):
        self.grey = _grey(frames)
        if len(self.grey) < 2:
            raise ValueError(f"a video needs at least 2 frames, got {len(self.grey)}")
        self._fwd: dict[int, np.ndarray] = {}
        self._back: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.grey) - 1

    def forward(self, i: int) -> np.ndarray:
        if i not in self._fwd:
            self._fwd[i] = optical_flow(self.grey[i], self.grey[i + 1])
        return self._fwd[i]

    def backward(self, i: int) -> np.ndarray:
        if i not in self._back:
            self._back[i] = optical_flow(self.grey[i + 1], self.grey[i])
        return self._back[i]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``p + flow(p)`` (bilinear, border replicated)."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warping_error(frames: np.ndarray, occlusion_threshold: float = 1.0, flows: PairFlows | None = None) -> float:
    """Mean absolute error (grey levels / 255) between frame ``t+1`` and frame ``t`` warped onto it
    by the optical flow, over pixels that pass a forward–backward flow consistency check
    (``|f_back(p) + f_fwd(p + f_back(p))| < occlusion_threshold`` pixels), averaged over frame
    pairs. **Lower is better** (0 for identical frames, and for a perfectly tracked motion).
    """
    flows = flows or PairFlows(frames)
    errors = []
    for i in range(len(flows)):
        a, b = flows.grey[i], flows.grey[i + 1]
        back = flows.backward(i)  # for each pixel of b, where it came from in a
        fwd = flows.forward(i)
        round_trip = back + warp(fwd, back)
        valid = np.linalg.norm(round_trip, axis=-1) < occlusion_threshold
        if not valid.any():
            continue
        warped = warp(a.astype(np.float32), back)
        errors.append(float(np.abs(warped - b.astype(np.float32))[valid].mean() / 255.0))
    return float(np.mean(errors)) if errors else 0.0


def static_flicker(frames: np.ndarray, still_speed: float = 0.2, flows: PairFlows | None = None) -> float:
    """Mean absolute change (RGB levels / 255) between consecutive frames at pixels whose flow
    is slower than ``still_speed`` pixels per frame in both directions: brightness or texture that
    changes where nothing moves. **Lower is better** (0 for a static or perfectly stable video).
    """
    rgb = as_uint8(frames).astype(np.float32)
    flows = flows or PairFlows(frames)
    values = []
    for i in range(len(flows)):
        still = (np.linalg.norm(flows.forward(i), axis=-1) < still_speed) & (
            np.linalg.norm(flows.backward(i), axis=-1) < still_speed
        )
        if still.any():
            values.append(float(np.abs(rgb[i + 1] - rgb[i])[still].mean() / 255.0))
    return float(np.mean(values)) if values else 0.0


def mean_flow(frames: np.ndarray, mask: np.ndarray | None = None, flows: PairFlows | None = None) -> np.ndarray:
    """Mean flow ``(dx, dy)`` in pixels per frame (x right, y down), over ``mask`` ``(F, H, W)`` of
    each pair's first frame when given (pairs with an empty mask are skipped)."""
    flows = flows or PairFlows(frames)
    vectors = []
    for i in range(len(flows)):
        flow = flows.forward(i)
        if mask is None:
            vectors.append(flow.reshape(-1, 2).mean(axis=0))
        elif mask[i].any():
            vectors.append(flow[mask[i]].mean(axis=0))
    return np.mean(vectors, axis=0) if vectors else np.zeros(2, np.float32)


def dynamic_degree(frames: np.ndarray, mask: np.ndarray | None = None, flows: PairFlows | None = None) -> float:
    """Mean optical-flow magnitude in pixels per frame (over ``mask`` when given). Not a score:
    compare with real videos; a much lower value means a video too static for its flicker to count."""
    flows = flows or PairFlows(frames)
    mags = []
    for i in range(len(flows)):
        mag = np.linalg.norm(flows.forward(i), axis=-1)
        if mask is None:
            mags.append(float(mag.mean()))
        elif mask[i].any():
            mags.append(float(mag[mask[i]].mean()))
    return float(np.mean(mags)) if mags else 0.0


def frame_consistency(features: np.ndarray) -> float:
    """Mean cosine similarity of consecutive frames' feature vectors ``(F, D)``. **Higher is better**
    (1 for identical frames)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (F >= 2, D), got {x.shape}")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return float((x[:-1] * x[1:]).sum(axis=1).mean())


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((a + a.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` ``(N, D)`` and ``b`` ``(M, D)``:
    ``|μa − μb|² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)``. **Lower is better** (0 for identical sets).
    With clip features of a video classifier this is an FVD; name the classifier when reporting it.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"feature sets must be (N >= 2, D) with the same D, got {a.shape} and {b.shape}")
    mu = a.mean(0) - b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ca, cb = np.atleast_2d(ca), np.atleast_2d(cb)
    root_a = _sqrtm_psd(ca)
    cross = _sqrtm_psd(root_a @ cb @ root_a)
    return float(max(mu @ mu + np.trace(ca) + np.trace(cb) - 2 * np.trace(cross), 0.0))


def _clip_image_features(frames: np.ndarray, model, processor):
    import torch

    inputs = processor(images=list(as_uint8(frames)), return_tensors="pt")
    with torch.no_grad():
        feats = model.get_image_features(pixel_values=inputs["pixel_values"].to(model.device, model.dtype))
    feats = getattr(feats, "pooler_output", feats)
    return torch.nn.functional.normalize(feats.float(), dim=-1)


def clip_frame_consistency(frames: np.ndarray, model, processor) -> float:
    """The paper's CLIP frame consistency: mean cosine similarity over all pairs of distinct frames'
    CLIP image embeddings. **Higher is better** (1 for identical frames)."""
    feats = _clip_image_features(frames, model, processor)
    n = len(feats)
    if n < 2:
        raise ValueError("a video needs at least 2 frames")
    sim = feats @ feats.T
    return float((sim.sum() - sim.diagonal().sum()) / (n * (n - 1)))


def clip_text_alignment(frames: np.ndarray, prompt: str, model, processor) -> float:
    """The paper's CLIP text alignment: mean over frames of 100 × cosine(frame embedding, prompt
    embedding) (the CLIP score). **Higher is better.**"""
    import torch

    feats = _clip_image_features(frames, model, processor)
    text = processor(text=[prompt], return_tensors="pt", padding=True)
    with torch.no_grad():
        t = model.get_text_features(input_ids=text["input_ids"].to(model.device))
    t = getattr(t, "pooler_output", t)
    t = torch.nn.functional.normalize(t.float(), dim=-1)
    return float(100 * (feats @ t.T).mean())


def video_metrics(frames: np.ndarray, judge=None, clip=None, prompt: str | None = None) -> dict[str, float]:
    """Every metric that applies to one video: flow-based ones and VBench's temporal flickering and motion
    smoothness (:mod:`dsdn.evaluation.vbench`) always; frame consistency and VBench's subject consistency with a
    :class:`~dsdn.evaluation.judge.ToyJudge`; the CLIP ones with ``clip=(model, processor)``
    (text alignment also needs ``prompt``)."""
    from .vbench import motion_smoothness, subject_consistency, temporal_flickering

    flows = PairFlows(frames)  # five flow fields per pair otherwise; two with sharing
    out = {
        "warping_error": warping_error(frames, flows=flows),
        "static_flicker": static_flicker(frames, flows=flows),
        "dynamic_degree": dynamic_degree(frames, flows=flows),
        "temporal_flickering": temporal_flickering(frames),
    }
    if len(frames) >= 3:
        out["motion_smoothness"] = motion_smoothness(frames)
    if judge is not None:
        features = judge.frame_features(frames)
        out["frame_consistency"] = frame_consistency(features)
        out["subject_consistency"] = subject_consistency(features)
    if clip is not None:
        out["clip_frame_consistency"] = clip_frame_consistency(frames, *clip)
        if prompt:
            out["clip_text_alignment"] = clip_text_alignment(frames, prompt, *clip)
    return out


def load_clip(path: str):
    """A CLIP model and processor from a local folder (never a hub download)."""
    from pathlib import Path

    from transformers import CLIPModel, CLIPProcessor

    from ..errors import DSDNInputError

    if not Path(path).is_dir():
        raise DSDNInputError(f"--clip={path!r} is not a folder: give a local CLIP folder (config, weights, processor).")
    try:
        model = CLIPModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()
        processor = CLIPProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as e:
        raise DSDNInputError(f"--clip={path!r} could not be loaded as CLIP ({str(e).splitlines()[0]})") from None
    return model, processor
