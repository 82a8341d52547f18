"""Judge toy-world videos by their pixels: where the object is, which way it moves, what colour it is.

These are the checks behind ``dsdn eval toy`` and the training-time validation. They read
only frames, so they judge real and generated clips alike:

* **object mask**: toy-world objects are bright (max RGB channel ≥ ``threshold``); plain and
  textured backgrounds are dark (channels ≤ 90), so a brightness threshold separates them.
* **motion**: mean OpenCV Farneback optical flow over the object mask of each frame pair,
  averaged over the clip, in pixels per frame ``(dx, dy)`` (x right, y down). The direction is
  the sign of the dominant axis.
* **colour**: the toy-world colour nearest (RGB distance) to the mean colour of the object's
  most saturated pixels.
* **shape kept** *(ours)*: in the toy world an object only translates, so every frame's object
  mask is a shifted copy of frame 1's. For each later frame, the best IoU of its mask with frame
  1's mask over all integer shifts; the clip's figure is the worst frame's. Real clips score 1
  or close (a digit's soft stroke edges over a textured background cross the brightness
  threshold a little differently as it moves); a clip *keeps its shape* at 0.5 or more.
  It catches what flow and visibility miss: an object that fades in place while a second,
  misplaced copy appears (the two streams disagreeing on where the object is).

For a DSDN model the evaluation can also say which stream carries the direction: each stream's
final latents are decoded on their own and judged the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.toy_world import COLOURS, OBJECTS
from .metrics import as_uint8, mean_flow

DIRECTIONS = ("left", "right", "up", "down")


def object_mask(frames: np.ndarray, threshold: int = 140) -> np.ndarray:
    """Boolean ``(F, H, W)``: pixels bright enough to be the object."""
    return as_uint8(frames).max(axis=-1) >= threshold


def motion_vector(frames: np.ndarray, threshold: int = 140) -> np.ndarray:
    """Mean optical flow ``(dx, dy)`` in pixels per frame over the object (x right, y down).

    Each pair of consecutive frames contributes the Farneback flow averaged over the object
    mask of its first frame; pairs whose first frame shows no object contribute nothing.
    """
    return mean_flow(frames, object_mask(frames, threshold))


def direction_of(vector: np.ndarray, min_speed: float = 0.25) -> str | None:
    """``left``/``right``/``up``/``down`` of a ``(dx, dy)`` vector, ``None`` when it is slower than ``min_speed``."""
    dx, dy = float(vector[0]), float(vector[1])
    if max(abs(dx), abs(dy)) < min_speed:
        return None
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


SHAPE_KEPT = 0.5  # a clip keeps its object's shape when shape_kept() is at least this


def shape_kept(frames: np.ndarray, threshold: int = 140) -> float:
    """Worst over frames ``l >= 2`` of the best IoU, over all integer shifts, of frame ``l``'s object mask
    with frame 1's (1 for an object that only translates; 0 when either mask is empty)."""
    from scipy.signal import fftconvolve

    masks = object_mask(frames, threshold).astype(np.float32)
    first, area = masks[0], masks[0].sum()
    worst = 1.0
    for mask in masks[1:]:
        other = mask.sum()
        if area == 0 or other == 0:
            return 0.0
        overlap = np.rint(fftconvolve(mask, first[::-1, ::-1], mode="full"))  # |shifted first ∩ mask| per shift
        worst = min(worst, float((overlap / (area + other - overlap)).max()))
    return worst


def object_colour(frames: np.ndarray, threshold: int = 140) -> str | None:
    """The toy-world colour nearest to the object's mean colour (``None`` when no object shows)."""
    frames = as_uint8(frames)
    pixels = frames[object_mask(frames, threshold)].astype(np.float32)
    if len(pixels) == 0:
        return None
    names = list(COLOURS)
    ref = np.asarray([COLOURS[n] for n in names], np.float32)
    mean = pixels.mean(axis=0)
    return names[int(np.argmin(((ref - mean) ** 2).sum(axis=1)))]


_MOTION_WORDS = {
    "left": "left", "right": "right", "up": "up", "upwards": "up", "rises": "up", "down": "down",
    "downwards": "down", "falls": "down", "bouncing": "bouncing", "bounces": "bouncing",
}  # fmt: skip


def parse_prompt(prompt: str) -> dict | None:
    """``{"object", "colour", "motion"}`` named by a toy-world prompt, or ``None`` if one is missing."""
    words = prompt.lower().replace(",", " ").split()
    text = " ".join(words)
    colour = next((w for w in words if w in COLOURS), None)
    obj = next((o for o in sorted(OBJECTS, key=len, reverse=True) if f" {o} " in f" {text} "), None)
    motion = next((_MOTION_WORDS[w] for w in words if w in _MOTION_WORDS), None)
    if None in (colour, obj, motion):
        return None
    return {"object": obj, "colour": colour, "motion": motion}


@dataclass
class ClipJudgement:
    """What the pixels say about one clip."""

    motion: tuple[float, float]
    direction: str | None
    colour: str | None
    min_object_pixels: int
    visible_every_frame: bool
    shape_kept: float

    @property
    def keeps_shape(self) -> bool:
        """Whether :attr:`shape_kept` reaches :data:`SHAPE_KEPT`."""
        return self.shape_kept >= SHAPE_KEPT


def judge_clip(frames: np.ndarray, threshold: int = 140, min_pixels: int = 12) -> ClipJudgement:
    """Direction, colour and visibility of the object in ``frames`` (``(F, H, W, 3)``, uint8 or [0, 1])."""
    frames = as_uint8(frames)
    counts = object_mask(frames, threshold).reshape(len(frames), -1).sum(axis=1)
    v = motion_vector(frames, threshold)
    return ClipJudgement(
        motion=(float(v[0]), float(v[1])),
        direction=direction_of(v),
        colour=object_colour(frames, threshold),
        min_object_pixels=int(counts.min()),
        visible_every_frame=bool((counts >= min_pixels).all()),
        shape_kept=shape_kept(frames, threshold),
    )


# ---------------------------------------------------------------------------------------- prompt sets
LINEAR_MOTIONS = ("left", "right", "up", "down")


def toy_prompts(split: str = "train", count: int = 48, seed: int = 0, exclude=()) -> list[str]:
    """``count`` toy-world prompts with a linear motion (bouncing cannot be judged from an
    8-frame flow sign), drawn without repeats from the ``train`` or ``heldout`` combinations
    (held-out combinations are cycled when fewer than ``count``), leaving out the prompts in
    ``exclude``. For one ``split`` and ``seed``, a smaller ``count`` gives a prefix of a larger one."""
    from ..data.toy_world import ClipSpec, caption_for

    combos = _prompt_combos(split, exclude)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(combos)) if len(combos) >= count else np.resize(np.arange(len(combos)), count)
    return [caption_for(ClipSpec(*combos[i]), 0) for i in order[:count]]


def _prompt_combos(split: str, exclude=()) -> list[tuple[str, str, str]]:
    """The (object, colour, motion) combinations :func:`toy_prompts` draws from."""
    from ..data.toy_world import HELDOUT_COMBOS, ClipSpec, caption_for

    combos = [(o, c, m) for o in OBJECTS for c in COLOURS for m in LINEAR_MOTIONS]
    if split == "train":
        combos = [k for k in combos if k not in HELDOUT_COMBOS]
    elif split == "heldout":
        combos = sorted(k for k in HELDOUT_COMBOS if k[2] in LINEAR_MOTIONS)
    else:
        raise ValueError(f"split={split!r} is invalid: must be train or heldout")
    if exclude:
        exclude = set(exclude)
        combos = [k for k in combos if caption_for(ClipSpec(*k), 0) not in exclude]
    return combos


EVALUATION_PROMPTS = 96  # the most training-vocabulary prompts the docs report from `dsdn eval toy` (48 and 96)


def selection_prompts(count: int, seed: int = 1) -> list[str]:
    """Training-vocabulary prompts for choosing sampling defaults (``dsdn eval sweep``): drawn
    like :func:`toy_prompts`, but never one of ``dsdn eval toy``'s first :data:`EVALUATION_PROMPTS` prompts,
    so that no default is picked on a prompt the evaluation reports."""
    return toy_prompts("train", count, seed, exclude=toy_prompts("train", EVALUATION_PROMPTS))


def selection_prompt_count() -> int:
    """How many distinct prompts :func:`selection_prompts` can draw."""
    return len(_prompt_combos("train", exclude=toy_prompts("train", EVALUATION_PROMPTS)))


def evaluate_prompts(pipe, prompts: list[str], seed: int = 0, batch: int = 8, num_frames: int = 8,
                     steps: int = 25, progress: bool = True, save_dir=None, judge=None, streams: bool = False,
                     object_scale: float = 1.0, **call_kwargs) -> dict:  # fmt: skip
    """Generate one clip per prompt (prompt ``i`` uses seed ``seed + i``) and judge it (``object_scale``:
    the strict judge's, for a world with larger objects than v1's).

    Returns accuracies of direction, colour and all-frames visibility, and per-clip records.
    With a :class:`~dsdn.evaluation.judge.ToyJudge`, also object accuracy and the mean frame
    consistency of its features. With ``streams`` (a :class:`~dsdn.pipeline.DSDNPipeline`), also
    the direction each stream gives on its own: its final latents (the combiner's inputs) are
    decoded and judged like the video, the content stream's frames as drawn (the combiner at
    γ = 0) and the motion stream integrated from content frame 1 (γ = 1).
    """
    import torch
    from tqdm.auto import tqdm

    records = []
    for start in tqdm(range(0, len(prompts), batch), desc="evaluating", disable=not progress):
        chunk = prompts[start : start + batch]
        gens = [torch.Generator("cpu").manual_seed(seed + start + i) for i in range(len(chunk))]
        last = {}
        if streams:
            call_kwargs["callback_on_step_end"] = lambda pipe, i, t, kw, last=last: last.update(kw)
            call_kwargs["callback_on_step_end_tensor_inputs"] = ["latents", "motion_latents"]
        frames = pipe(chunk, num_frames=num_frames, num_inference_steps=steps, generator=gens, output_type="np",
                      **call_kwargs).frames  # fmt: skip
        alone = _stream_directions(pipe, last["latents"], last["motion_latents"]) if streams else None
        for i, (prompt, video) in enumerate(zip(chunk, frames)):
            if save_dir is not None:
                from pathlib import Path

                from ..video_io import save_video

                Path(save_dir).mkdir(parents=True, exist_ok=True)
                save_video(video, Path(save_dir) / f"{start + i:03d}_{prompt.replace(' ', '_')}.mp4", fps=8)
            records.append(_judged_record(prompt, seed + start + i, video, object_scale=object_scale, judge=judge))
            if streams:
                records[-1].update(alone[i])
    return _summary(records, judge is not None, streams)


def evaluate_combiners(pipe, prompts: list[str], settings, seed: int = 0, batch: int = 8, num_frames: int = 8,
                       steps: int = 25, progress: bool = True, object_scale: float = 1.0, judge=None,
                       **call_kwargs) -> dict:  # fmt: skip
    """:func:`evaluate_prompts` for several ``(motion_coherence, combiner)`` settings at once.

    γ and the combiner act only after denoising, so each clip is denoised once (prompt ``i`` with
    seed ``seed + i``, as :func:`evaluate_prompts`) and its final streams are combined, decoded and
    judged for every setting: the same videos as one :func:`evaluate_prompts` call per setting, at
    a fraction of the cost. Returns ``{(γ, combiner): results}`` (accuracies and records).
    """
    import torch
    from tqdm.auto import tqdm

    from ..motion_codec import combine_motion

    settings = [(float(g), c) for g, c in settings]
    records = {key: [] for key in settings}
    for start in tqdm(range(0, len(prompts), batch), desc="evaluating", disable=not progress):
        chunk = prompts[start : start + batch]
        gens = [torch.Generator("cpu").manual_seed(seed + start + i) for i in range(len(chunk))]
        last = {}
        pipe(chunk, num_frames=num_frames, num_inference_steps=steps, generator=gens, output_type="latent",
             callback_on_step_end=lambda pipe, i, t, kw, last=last: last.update(kw),
             callback_on_step_end_tensor_inputs=["latents", "motion_latents"], **call_kwargs)  # fmt: skip
        for g, combiner in settings:
            latents = combine_motion(last["latents"], last["motion_latents"], pipe.adapter.config.motion_scale, g,
                                     combiner)  # fmt: skip
            with torch.no_grad():
                video = pipe.frame_vae.decode(latents, chunk_size=16)  # as the pipeline decodes
            frames = pipe.video_processor.postprocess_video(video.float(), output_type="np")
            for i, (prompt, clip) in enumerate(zip(chunk, frames)):
                records[(g, combiner)].append(_judged_record(prompt, seed + start + i, clip, object_scale=object_scale,
                                                             judge=judge))  # fmt: skip
    return {key: _summary(recs, judge is not None) for key, recs in records.items()}


def _judged_record(prompt: str, seed: int, video: np.ndarray, object_scale: float = 1.0, judge=None) -> dict:
    """The per-clip record of :func:`evaluate_prompts`: what ``prompt`` asks for and what ``video`` shows
    (``strict``: the strict judge's checks, :mod:`dsdn.evaluation.clean`; with a
    :class:`~dsdn.evaluation.judge.ToyJudge`, identity, the object it names and its frame consistency)."""
    from .clean import judge_strict

    want, got = parse_prompt(prompt), judge_clip(video)
    named = None if judge is None else judge.object_of(video)
    identity = None if named is None else named == want["object"]
    named_fields = {}
    if judge is not None:
        from .metrics import frame_consistency

        named_fields = dict(want_object=want["object"], object=named,
                            frame_consistency=frame_consistency(judge.frame_features(video)))  # fmt: skip
    return {
        "strict": judge_strict(video, want["colour"], want["motion"], identity, object_scale, want["object"]).as_record(),
        "prompt": prompt, "seed": seed, "want_direction": want["motion"],
        "direction": got.direction, "motion": got.motion, "want_colour": want["colour"], "colour": got.colour,
        "visible_every_frame": got.visible_every_frame, "min_object_pixels": got.min_object_pixels,
        "shape_kept": got.shape_kept, **named_fields,
    }  # fmt: skip


def _summary(records: list[dict], judged: bool = False, streams: bool = False) -> dict:
    """Accuracies over :func:`evaluate_prompts` records, and the records."""
    from .clean import strict_rates, strict_rates_by_kind

    n = len(records)
    strict = strict_rates(records)
    return {
        "clips": n,
        "clean_acc": strict["clean"],
        "strict": strict,
        "strict_by_kind": strict_rates_by_kind(records),
        "direction_acc": sum(r["direction"] == r["want_direction"] for r in records) / n,
        "colour_acc": sum(r["colour"] == r["want_colour"] for r in records) / n,
        "visible_acc": sum(r["visible_every_frame"] for r in records) / n,
        "shape_kept_acc": sum(r["shape_kept"] >= SHAPE_KEPT for r in records) / n,
        "direction_by_motion": direction_by_motion(records),
        **(
            {}
            if not judged
            else {
                "object_acc": sum(r["object"] == r["want_object"] for r in records) / n,
                "frame_consistency": float(np.mean([r["frame_consistency"] for r in records])),
            }
        ),  # fmt: skip
        **(
            {}
            if not streams
            else {
                name: value
                for k in ("content", "motion")
                for name, value in (
                    (
                        f"{k}_stream_direction_acc",
                        sum(r[f"{k}_stream_direction"] == r["want_direction"] for r in records) / n,
                    ),
                    (f"{k}_stream_direction_by_motion", direction_by_motion(records, f"{k}_stream_direction")),
                )
            }
        ),  # fmt: skip
        "records": records,
    }


def direction_by_motion(records: list[dict], key: str = "direction") -> dict[str, dict]:
    """Per wanted motion: ``clips``, ``right`` (judged as wanted) and ``judged`` (how often each
    direction was judged, ``"none"`` for no clear motion or no object), from :func:`evaluate_prompts` records.
    ``key`` picks the judgement: ``"direction"`` (the video), ``"content_stream_direction"`` or
    ``"motion_stream_direction"`` (a stream alone)."""
    out: dict[str, dict] = {}
    for r in records:
        row = out.setdefault(r["want_direction"], {"clips": 0, "right": 0, "judged": {}})
        row["clips"] += 1
        row["right"] += r[key] == r["want_direction"]
        got = r[key] or "none"
        row["judged"][got] = row["judged"].get(got, 0) + 1
    return dict(sorted(out.items()))


def format_direction_by_motion(by_motion: dict[str, dict]) -> str:
    """``down 1/12 (most often up, 7), left 9/12, ...``: each motion's right/clips, and its most frequent
    wrong judgement where that beats the right one."""
    parts = []
    for motion, row in by_motion.items():
        text = f"{motion} {row['right']}/{row['clips']}"
        wrong = {k: v for k, v in row["judged"].items() if k != motion}
        if wrong:
            worst = max(sorted(wrong), key=wrong.get)
            if wrong[worst] > row["right"]:
                text += f" (most often {worst}, {wrong[worst]})"
        parts.append(text)
    return ", ".join(parts)


def _stream_directions(pipe, content, motion) -> list[dict]:
    """Judge each DSDN stream alone for a batch of final latents ``(B, C, F, h, w)``; one dict per clip."""
    import torch

    from ..motion_codec import combine_motion

    integrated = combine_motion(content, motion, pipe.adapter.config.motion_scale, 1.0, "causal")
    with torch.no_grad():
        video = pipe.frame_vae.decode(torch.cat([content, integrated]))  # one decode for the chunk
    frames = pipe.video_processor.postprocess_video(video.float(), output_type="np")
    out = [{} for _ in range(len(content))]
    for kind, clips in (("content", frames[: len(content)]), ("motion", frames[len(content) :])):
        for record, clip in zip(out, clips):
            j = judge_clip(clip)
            record[f"{kind}_stream_motion"], record[f"{kind}_stream_direction"] = j.motion, j.direction
    return out


def run_toy_eval(cfg, progress: bool = True, report=None) -> dict:
    """``dsdn eval toy``: sample the model of a :class:`~dsdn.evaluation.configs.ToyEvalConfig` on its training-
    vocabulary prompts and held-out compositions and judge every clip; returns ``{"sampling", "toy_world", "train",
    "heldout"}`` (the splits asked for) and writes it to ``cfg.json_out`` when given. ``report(name, figures)`` is
    called with ``"sampling"`` once the model's settings are resolved, then with each split's figures."""
    import json
    from pathlib import Path

    from ..data.toy_world import object_scale
    from ..generate import model_toy_world, resolve_model_dir
    from ..pipeline import DSDNPipeline
    from ..schedulers import make_scheduler
    from .judge import load_judge_for

    report = report or (lambda name, figures: None)
    model_dir = resolve_model_dir(cfg.model)
    world = cfg.toy_world or model_toy_world(model_dir) or "v1"
    judge = None if cfg.judge is None else load_judge_for(cfg.judge, world)
    pipe = DSDNPipeline.from_pretrained(model_dir)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler(cfg.scheduler, pipe.scheduler.config)
    steps = pipe.default_steps() if cfg.steps is None else cfg.steps
    settings = pipe.sampling_settings(cfg.guidance, cfg.motion_guidance, cfg.motion_coherence, cfg.combiner,
                                      cfg.stream_sync, cfg.shared_noise, cfg.cross_frame_attention, cfg.carry_from,
                                      cfg.early_coherence, cfg.early_until)  # fmt: skip
    sampling = {"steps": steps, "scheduler": cfg.scheduler, "cache_interval": cfg.cache_interval,
                "cache_depth": cfg.cache_depth, **settings}  # fmt: skip
    report("sampling", sampling)
    results = {"sampling": sampling, "toy_world": world}
    for split, count in (("train", cfg.prompts), ("heldout", cfg.heldout_prompts)):
        if count <= 0:
            continue
        save_dir = None if cfg.save_dir is None else Path(cfg.save_dir) / split
        results[split] = evaluate_prompts(
            pipe, toy_prompts(split, count, cfg.seed), seed=cfg.seed, steps=steps, progress=progress,
            save_dir=save_dir, judge=judge, streams=True, object_scale=object_scale(world),
            cache_interval=cfg.cache_interval, cache_depth=cfg.cache_depth, **settings,
        )  # fmt: skip
        report(split, results[split])
    if cfg.json_out:
        Path(cfg.json_out).write_text(json.dumps(results, indent=2))
    return results
