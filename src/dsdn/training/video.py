"""Train DSDN on videos over a frozen base (``dsdn train video``), with Hugging Face Accelerate.

The same function runs on one CPU, or on many GPUs/nodes when started by ``accelerate launch``
(DDP; FSDP/DeepSpeed through Accelerate's config). What trains is exactly
:meth:`~dsdn.denoiser.DualStreamDenoiser.trainable_parameters` (content LoRA, motion stream,
interaction); the VAE, text encoder and base UNet stay frozen.

Reproducibility and resume: every random draw of step ``k`` on process ``r`` (batch indices,
timesteps, noises, text dropout, dropout layers) is seeded from ``(seed, k, r)``. A checkpoint
holds the trainable weights, optimizer, LR schedule, EMA and step, so ``--resume`` continues
from the newest checkpoint along the same loss curve as an uninterrupted run. ``--init-from``
starts a new run (fresh optimizer and schedule) from a saved model's trained weights instead.

Checkpoints are folders ``checkpoint-NNNNNNN`` written under a temporary name and renamed
into place (a crash never leaves a half-written newest checkpoint); only the last
``keep_checkpoints`` are kept. Each run writes its resolved config, seed and package versions
to ``run.json`` and its metrics to ``metrics.jsonl`` (one curve across resumes: a resume drops what a killed run
logged after its checkpoint, and ``time_s`` runs on from there).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..devices import has_accelerator_device
from ..errors import DSDNInputError, DSDNRunError
from ..model_layout import adapter_folder
from ..objective import parse_word_pairs
from ..paths import holds_checkpoints, removes_new_folder_on_failure
from ..presets import resolve_preset
from ..unet_levels import checkpoint_blocks
from . import runs
from .configs import VideoTrainConfig
from .data import build_dataset, encode_dataset, to_video_tensor
from .runs import (
    keep_metrics_until,
    list_checkpoints,
    load_newest_checkpoint,
    plain_config,
    remove_stale_temporaries,
    step_seed,
)
from .validation import validate

logger = logging.getLogger(__name__)


class TrainingDiverged(DSDNRunError, RuntimeError):
    """The loss became NaN or infinite."""


# ---------------------------------------------------------------------------------------- checkpoints
# ---------------------------------------------------------------------------------------- training
@removes_new_folder_on_failure(lambda cfg, *a, **k: cfg.out, keep=holds_checkpoints)
def train_video(cfg: VideoTrainConfig, progress: bool = True) -> Path:
    """Run (or resume) a DSDN training run; returns the folder of the final model."""
    from accelerate import Accelerator
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    from ..adapter import DSDNAdapter
    from ..content_stream import ContentStream
    from ..denoiser import DualStreamDenoiser
    from ..frame_vae import FrameVAE
    from ..loading import load_base
    from ..motion_codec import estimate_motion_scale
    from ..objective import dsdn_loss, swap_pair_words
    from ..pipeline import DSDNPipeline
    from ..video_io import atomic_write_text, package_versions
    from ..vocabulary import read_vocabulary

    # Without an accelerator, run on CPU; several processes then use gloo (torchrun or accelerate launch).
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not has_accelerator_device())
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    out = Path(cfg.out)
    checkpoints = list_checkpoints(out) if cfg.resume else []
    if not cfg.resume and list_checkpoints(out):
        raise DSDNInputError(
            f"out={str(out)!r} already holds checkpoints: pass --resume to continue, or another --out."
        )
    resumed = load_newest_checkpoint(checkpoints) if checkpoints else None

    # ---- frozen base
    base = load_base(cfg.base)
    base["known_words"] = read_vocabulary(cfg.base) if Path(cfg.base).is_dir() else None
    vae, text_encoder, tokenizer, unet = base["vae"], base["text_encoder"], base["tokenizer"], base["unet"]
    for m in (vae, text_encoder, unet):
        m.requires_grad_(False).eval().to(device)
    frame_vae = FrameVAE(vae)
    size = cfg.size or unet.config.sample_size * frame_vae.scale_factor
    noise_scheduler = DDPMScheduler.from_config(base["scheduler"].config)

    # ---- data (encoded once when caching)
    dataset = build_dataset(cfg, size)
    latents = captions = None
    if cfg.cache_latents:
        latents, captions = encode_dataset(
            dataset, frame_vae, device, progress=progress and accelerator.is_local_main_process
        )
        n_clips = len(captions)
    else:
        n_clips = len(dataset)

    # ---- trainable parts
    resume_state = initial_sd = None
    if resumed is not None:
        resumed_from, initial_sd, resume_state, ema_sd = resumed
        adapter = DSDNAdapter.from_config(resume_state["adapter_config"])
    elif cfg.init_from:
        adapter = _load_initial_model(cfg.init_from, unet)
    else:
        sample = latents[:64] if latents is not None else FrameVAE(vae).encode(
            to_video_tensor([dataset[i] for i in range(min(8, len(dataset)))], device), sample=False
        )  # fmt: skip
        motion_scale = estimate_motion_scale(sample)
        torch.manual_seed(cfg.seed)
        adapter = resolve_preset(cfg.preset).build(unet, motion_scale=motion_scale)
    if resume_state is None and cfg.shared_noise > 0:
        adapter.register_to_config(shared_noise=cfg.shared_noise)  # the model samples from the prior it learned
    if resume_state is None and cfg.cross_frame_attention:
        adapter.register_to_config(cross_frame_attention=True)  # and with the attention it learned with
    if resume_state is None:  # the evaluation judges a toy-world model at its world's object size
        adapter.register_to_config(toy_world=cfg.toy_world if cfg.data == "toy" else None)
    for key in ("combiner", "motion_coherence"):  # the combine term's, and the model's sampling default
        if resume_state is None and getattr(cfg, key) is not None:
            adapter.register_to_config(**{key: getattr(cfg, key)})
    torch.manual_seed(cfg.seed + 1)
    content = ContentStream(unet, lora_rank=adapter.config.lora_rank, lora_targets=adapter.config.lora_target_modules)
    denoiser = DualStreamDenoiser.from_adapter(content, adapter).to(device)
    names = [n for n, _ in denoiser.trainable_parameters()]
    if initial_sd is not None:
        missing = [n for n in names if n not in initial_sd]
        if missing:
            raise DSDNInputError(f"{resumed_from} does not match this model: it lacks {missing[0]!r}.")
        with torch.no_grad():
            for n, p in denoiser.trainable_parameters():
                p.copy_(initial_sd[n])
    params = denoiser.set_trainable(content_lora=cfg.train_content_lora)
    if cfg.gradient_checkpointing:
        checkpoint_blocks(unet)
        checkpoint_blocks(adapter.motion_unet)

    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    lr_scheduler = get_scheduler(
        cfg.lr_schedule if cfg.lr_schedule != "constant" else "constant_with_warmup", optimizer,
        num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.steps,
    )  # fmt: skip
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.ema_decay > 0 else None
    start, end = 0, cfg.steps if cfg.stop_at is None else cfg.stop_at  # (stop_at: a shorter run, the same LR schedule)
    if resume_state is not None:
        if bool(resume_state.get("train_content_lora", True)) != cfg.train_content_lora:
            raise DSDNInputError(
                f"{resumed_from} was trained with train_content_lora={not cfg.train_content_lora}: resume it with the "
                "same setting, or start a new --out from its model with --init-from."
            )
        optimizer.load_state_dict(resume_state["optimizer"])
        lr_scheduler.load_state_dict(resume_state["lr_scheduler"])
        start = int(resume_state["step"])
        if start > end:  # (before run.json is rewritten)
            raise DSDNInputError(
                f"the newest checkpoint of {str(out)!r} is at step {start}, past stop_at={end}: "
                f"give --stop-at {start} or more (its model is written at the step it stops at)."
            )
        if ema is not None and ema_sd is not None:
            ema.shadow_params = [ema_sd[str(i)].to(device) for i in range(len(params))]
            ema.optimization_step = int(resume_state.get("ema_step", start))
        logger.info("resumed from %s at step %d", resumed_from, start)
    # The LR schedule is stepped by hand once per optimisation step (not handed to Accelerate,
    # which would step it once per process).
    ddp_denoiser, optimizer = accelerator.prepare(denoiser, optimizer)

    pair_swap = parse_word_pairs(cfg.contrast_pairs)
    null_ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt")
    with torch.no_grad():
        null_text = text_encoder(null_ids.input_ids.to(device))[0]

    def batch_latents(step: int, rng: np.random.Generator) -> tuple[torch.Tensor, list[str]]:
        idx = rng.integers(n_clips, size=cfg.batch_size)
        if latents is not None:
            return latents[torch.from_numpy(idx)].to(device), [captions[i] for i in idx]
        from ..data import next_readable

        items = [next_readable(dataset, int(i)) for i in idx]
        with torch.no_grad():
            z = frame_vae.encode(to_video_tensor(items, device), sample=False)
        return z, [it["caption"] for it in items]

    # The output folder is created only now, after the base, the data and the model are known to be good.
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        stale = remove_stale_temporaries(out)
        if stale:
            logger.warning(
                "removed %d unfinished folder(s) left by an interrupted run: %s", len(stale), ", ".join(stale)
            )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        run = {"config": asdict(cfg), "resolved": {"size": size, "clips": n_clips, "processes": world,
               "adapter": dict(adapter.config), "trainable_parameters": sum(p.numel() for p in params),
               "resumed_from_step": start}, "versions": package_versions()}  # fmt: skip
        atomic_write_text(out / "run.json", json.dumps(run, indent=2, default=str))

    metrics_path = out / "metrics.jsonl"
    time_offset = keep_metrics_until(metrics_path, start, rewrite=accelerator.is_main_process) if start else 0.0
    t0 = time.perf_counter() - time_offset
    last_ckpt = resumed[0] if resumed is not None else None

    def log(record: dict) -> None:
        if accelerator.is_main_process:
            with open(metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def checkpoint(step: int) -> Path | None:
        accelerator.wait_for_everyone()
        path = None
        if accelerator.is_main_process:
            trainable = {n: p for n, p in accelerator.unwrap_model(ddp_denoiser).trainable_parameters()}
            path = runs.save_checkpoint(
                out, step, trainable, optimizer, lr_scheduler, ema,
                extra={"adapter_config": plain_config(adapter.config), "ema_step": ema.optimization_step if ema else 0,
                       "train_content_lora": cfg.train_content_lora},
                keep=cfg.keep_checkpoints,
            )  # fmt: skip
        accelerator.wait_for_everyone()
        return path

    ddp_denoiser.train()
    bar = tqdm(range(start, end), initial=start, total=end, desc="train",
               disable=not (progress and accelerator.is_local_main_process))  # fmt: skip
    for step in bar:
        seed = step_seed(cfg.seed, step, rank)
        rng = np.random.default_rng(seed)
        torch.manual_seed(seed)  # dropout layers
        gen = torch.Generator("cpu").manual_seed(seed)
        z0, texts = batch_latents(step, rng)
        # The contrast term's negatives (each caption with a pair word swapped) are encoded in the same call.
        negatives = [swap_pair_words(c, pair_swap) for c in texts] if cfg.contrast_weight > 0 else []
        ids = tokenizer(texts + [n or c for n, c in zip(negatives, texts)], padding="max_length",
                        max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            text = text_encoder(ids.input_ids.to(device))[0]
        contrast = {}
        if negatives:
            text, contrast_text = text[: len(texts)], text[len(texts) :]
            contrast = dict(contrast_text=contrast_text, contrast_mask=torch.tensor([n is not None for n in negatives]),
                            contrast_weight=cfg.contrast_weight, contrast_margin=cfg.contrast_margin)  # fmt: skip
        with accelerator.autocast():
            parts = dsdn_loss(
                ddp_denoiser, z0, text, null_text, noise_scheduler, adapter.config.motion_scale,
                motion_weight=cfg.motion_weight, text_dropout=cfg.text_dropout, combine_weight=cfg.combine_weight,
                motion_coherence=adapter.config.motion_coherence,
                combiner=adapter.config.combiner, generator=gen, snr_gamma=cfg.snr_gamma,
                motion_loss=cfg.motion_loss, shared_noise=cfg.shared_noise,
                cross_frame=bool(getattr(adapter.config, "cross_frame_attention", False)), **contrast,
            )  # fmt: skip
        loss = parts.loss
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"loss is {loss.item()} at step {step + 1}; the last good checkpoint is "
                f"{last_ckpt or 'none (no checkpoint yet)'}. Lower --lr or raise --warmup-steps, then --resume."
            )
        accelerator.backward(loss)
        grad_norm = accelerator.clip_grad_norm_(params, cfg.max_grad_norm) if cfg.max_grad_norm > 0 else None
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(params)
        done = step + 1
        if done % cfg.log_every == 0 or done == end:
            record = {"step": done, "loss": loss.item(), "content": parts.content.item(), "motion": parts.motion.item(),
                      "lr": lr_scheduler.get_last_lr()[0], "time_s": round(time.perf_counter() - t0, 2)}  # fmt: skip
            if grad_norm is not None:
                record["grad_norm"] = float(grad_norm)
            if parts.contrast is not None:
                record["contrast"] = parts.contrast.item()
            if parts.combine is not None:
                record["combine"] = parts.combine.item()
            log(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}")
        if done % cfg.checkpoint_every == 0 or done == end:
            last_ckpt = checkpoint(done) or last_ckpt
        if cfg.validate_every and (done % cfg.validate_every == 0 or done == end) and accelerator.is_main_process:
            log({"step": done, **validate(base, adapter, ema, params, cfg, out / "samples" / f"step-{done:07d}")})
    bar.close()

    model_dir = out / "model"
    if accelerator.is_main_process:
        if ema is not None:
            ema.copy_to(params)
        pipe = DSDNPipeline.from_components(base, adapter)
        tmp = out / ".tmp-model"
        shutil.rmtree(tmp, ignore_errors=True)
        pipe.save_adapter(tmp, include_base=True)
        shutil.rmtree(model_dir, ignore_errors=True)
        os.replace(tmp, model_dir)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return model_dir


def _load_initial_model(path: str, unet):
    """The adapter of a saved DSDN model, with its content LoRA loaded into ``unet`` (the frozen base's),
    to start a run from trained weights (fine-tuning) instead of the preset's fresh ones."""
    from ..content_stream import level_channels
    from ..model_files import load_adapter, load_content_lora

    folder = adapter_folder(path)  # a pipeline folder's adapter/
    adapter = load_adapter(folder)
    want = tuple(level_channels(unet.config.block_out_channels))
    if tuple(adapter.config.content_channels) != want:
        raise DSDNInputError(
            f"init_from={path!r} was trained on a base with level widths {tuple(adapter.config.content_channels)}, "
            f"this base has {want}: pass the base it was trained on."
        )
    load_content_lora(folder, unet)
    return adapter
