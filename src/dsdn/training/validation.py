"""Validation samples during training, and a pipeline from a training checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from .runs import load_checkpoint


@torch.no_grad()
def validate(base: dict, adapter, ema, params, cfg, folder: Path) -> dict:
    """Sample the validation prompts (seeded), write mp4s, and judge them by pixels: the lenient checks
    (direction, colour, visibility, shape kept) and the strict judge's clean rate."""
    from ..data.toy_world import object_scale
    from ..evaluation.clean import judge_strict
    from ..evaluation.toy import judge_clip, parse_prompt
    from ..pipeline import DSDNPipeline
    from ..video_io import save_video

    if ema is not None:
        ema.store(params)
        ema.copy_to(params)
    try:
        pipe = DSDNPipeline.from_components(base, adapter)
        pipe.set_progress_bar_config(disable=True)
        gen = torch.Generator("cpu").manual_seed(cfg.seed)
        frames = pipe(list(cfg.validation_prompts), num_frames=cfg.num_frames, num_inference_steps=cfg.validation_steps,
                      generator=gen, output_type="np").frames  # fmt: skip
    finally:
        if ema is not None:
            ema.restore(params)
    folder.mkdir(parents=True, exist_ok=True)
    scale = object_scale(cfg.toy_world) if cfg.data == "toy" else 1.0  # (the strict judge's, for v3's larger objects)
    direction_ok = colour_ok = visible = shape = clean = judged = 0
    for i, (prompt, video) in enumerate(zip(cfg.validation_prompts, frames)):
        save_video(video, folder / f"{i:02d}_{prompt.replace(' ', '_')[:60]}.mp4", fps=8)
        want = parse_prompt(prompt)
        video = video.transpose(0, 2, 1, 3) if cfg.toy_transpose else video  # judged in the words' axes
        got = judge_clip(video)
        if want is None:
            continue
        clean += judge_strict(video, want["colour"], want["motion"], object_scale=scale, obj=want["object"]).clean
        judged += 1
        direction_ok += got.direction == want["motion"]
        colour_ok += got.colour == want["colour"]
        visible += got.visible_every_frame
        shape += got.keeps_shape
    if not judged:
        return {"validation_clips": len(frames)}
    return {"val_direction_acc": direction_ok / judged, "val_colour_acc": colour_ok / judged,
            "val_visible": visible / judged, "val_shape_kept": shape / judged, "val_clean": clean / judged,
            "validation_clips": judged}  # fmt: skip


def pipeline_from_checkpoint(base: str, checkpoint: str | Path, use_ema: bool = True):
    """A :class:`~dsdn.pipeline.DSDNPipeline` from a training checkpoint folder and its base
    (the EMA weights when the checkpoint has them and ``use_ema``)."""
    from ..adapter import DSDNAdapter
    from ..content_stream import ContentStream
    from ..denoiser import DualStreamDenoiser
    from ..loading import load_base
    from ..pipeline import DSDNPipeline
    from ..vocabulary import read_vocabulary

    trainable, state, ema = load_checkpoint(Path(checkpoint))
    components = load_base(base)
    components["known_words"] = read_vocabulary(base) if Path(base).is_dir() else None
    adapter = DSDNAdapter.from_config(state["adapter_config"])
    content = ContentStream(components["unet"], lora_rank=adapter.config.lora_rank,
                            lora_targets=adapter.config.lora_target_modules)  # fmt: skip
    denoiser = DualStreamDenoiser.from_adapter(content, adapter)
    named = list(denoiser.trainable_parameters())
    with torch.no_grad():
        for i, (name, p) in enumerate(named):
            p.copy_(ema[str(i)] if (use_ema and ema is not None) else trainable[name])
    return DSDNPipeline.from_components(components, adapter)
