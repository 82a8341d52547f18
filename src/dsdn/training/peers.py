"""Train the single-stream peers of the benchmark on the same base and data as DSDN (``dsdn train peer``).

Two peers, each a diffusers model trained here on the toy world (or a video folder) over the same
frozen SD-format base, so that ``dsdn benchmark quality`` compares methods, not bases:

* ``animatediff``: AnimateDiff's recipe: diffusers' :class:`~diffusers.MotionAdapter` inserted into
  the frozen base UNet (:class:`~diffusers.UNetMotionModel`); only the motion modules train. Its
  size is chosen to be closest to DSDN's trainable parameter count. Sampled with diffusers'
  ``AnimateDiffPipeline``.
* ``unet3d``: one stream, ModelScope's recipe: a :class:`~diffusers.UNet3DConditionModel` with the
  base UNet's levels, inflated from the base weights, every weight trained. Its temporal
  attention gets the same parameter-free frame positions as DSDN's motion stream (without them it
  cannot tell a clip from its reverse). Sampled with diffusers' ``TextToVideoSDPipeline``.

The budget is wall-clock time (``budget_s``, e.g. DSDN's own training time) or a step count,
whichever is smaller. A time budget is turned into steps by timing the first steps of the run
(:data:`PROBE_STEPS` after :data:`PROBE_WARMUP` untimed ones): ``steps = budget_s / seconds per
step``. So the run's length is fixed by the machine's speed on this model, not by whatever else
later loads the machine, and the learning rate follows the same warm-up and cosine over the known
step count as DSDN's run. The loss is the plain denoising loss (``ε`` or ``v``
following the scheduler) with the same text dropout, batch, optimiser and EMA as DSDN's run.

The result, written atomically to ``out/model``, is a folder with ``peer.json`` (kind, steps, wall
time, parameters, base) and the trained weights as safetensors (``motion_adapter/`` or
``unet3d/``). Every ``checkpoint_every`` steps a checkpoint is written like DSDN's (:func:`~dsdn.training.runs.
save_checkpoint`: trainable weights, EMA, optimiser, step, and the step count a time budget became), so
``resume=True`` (``--resume``) continues a killed run along the same curve: every random draw of step ``k`` is
seeded from ``(seed, k, process)`` and the learning rate is a function of the step.
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
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import DSDNInputError
from ..paths import holds_checkpoints, removes_new_folder_on_failure
from ..peers import FRAME_POSITIONS, PEER_FILE, build_peer, default_base
from .configs import PeerTrainConfig

logger = logging.getLogger(__name__)

#: Steps timed (after untimed warm-up steps) to turn a wall-clock budget into a step count.
PROBE_WARMUP, PROBE_STEPS = 3, 20


def peer_forward(kind: str, model, noisy: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """The model's prediction for ``noisy`` ``(B, C, F, h, w)``: UNetMotionModel takes the text once
    per frame, UNet3DConditionModel once per clip."""
    if kind == "animatediff":
        text = text.repeat_interleave(noisy.shape[2], dim=0)
    return model(noisy, t, encoder_hidden_states=text).sample


def lr_schedule(optimizer, lr: float, warmup: int, total: int, step: int):
    """Diffusers' warm-up and cosine decay over a run of ``total`` steps, positioned at ``step`` (a resumed run,
    or a run whose length the time budget's probe has just fixed)."""
    from diffusers.optimization import get_scheduler

    for group in optimizer.param_groups:
        group.setdefault("initial_lr", lr)
    return get_scheduler("cosine", optimizer, num_warmup_steps=warmup, num_training_steps=total, last_epoch=step - 1)


@removes_new_folder_on_failure(lambda cfg, *a, **k: cfg.out, keep=holds_checkpoints)
def train_peer(cfg: PeerTrainConfig, progress: bool = True) -> Path:
    """Train one peer within its budget; returns the saved model folder ``out/model``."""
    from accelerate import Accelerator
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    from ..devices import has_accelerator_device
    from ..frame_vae import FrameVAE
    from ..loading import base_fingerprint, load_base
    from ..objective import prediction_target
    from ..video_io import atomic_write_text, package_versions
    from . import runs
    from .data import build_dataset, encode_dataset
    from .runs import list_checkpoints, step_seed

    accelerator = Accelerator(cpu=not has_accelerator_device())
    device = accelerator.device
    out = Path(cfg.out)
    base_path = cfg.base or default_base()
    if (out / "model" / PEER_FILE).is_file():
        raise DSDNInputError(f"out={str(out)!r} already holds a trained peer: pass another --out, or delete it first.")
    checkpoints = list_checkpoints(out) if cfg.resume else []
    if not cfg.resume and list_checkpoints(out):
        raise DSDNInputError(
            f"out={str(out)!r} already holds checkpoints: pass --resume to continue, or another --out."
        )
    base = load_base(base_path)
    vae, text_encoder, tokenizer, unet = base["vae"], base["text_encoder"], base["tokenizer"], base["unet"]
    for m in (vae, text_encoder):
        m.requires_grad_(False).eval().to(device)
    frame_vae = FrameVAE(vae)
    size = cfg.size or unet.config.sample_size * frame_vae.scale_factor
    noise_scheduler = DDPMScheduler.from_config(base["scheduler"].config)

    dataset = build_dataset(cfg, size)
    latents, captions = encode_dataset(
        dataset, frame_vae, device, progress=progress and accelerator.is_local_main_process
    )
    torch.manual_seed(cfg.seed)
    model, params, adapter = build_peer(cfg.kind, unet)
    model.to(device).train()
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.ema_decay > 0 else None
    names = {id(p): n for n, p in model.named_parameters()}
    trainable = {names[id(p)]: p for p in params}
    step, total, seconds_per_step = 0, cfg.steps, None
    if checkpoints:
        resumed_from, saved, state, ema_saved = runs.load_newest_checkpoint(checkpoints)
        if saved.keys() != trainable.keys():
            raise DSDNInputError(f"{resumed_from} is not a checkpoint of this {cfg.kind} peer: its weights differ.")
        with torch.no_grad():
            for n, p in trainable.items():
                p.copy_(saved[n])
        optimizer.load_state_dict(state["optimizer"])
        step, total, seconds_per_step = int(state["step"]), int(state["total"]), state["seconds_per_step"]
        if ema is not None and ema_saved is not None:
            ema.shadow_params = [ema_saved[str(i)].to(device) for i in range(len(params))]
            ema.optimization_step = int(state.get("ema_step", step))
        logger.info("resumed from %s at step %d", resumed_from, step)
    model, optimizer = accelerator.prepare(model, optimizer)

    def encode_text(texts: list[str]) -> torch.Tensor:
        ids = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            return text_encoder(ids.input_ids.to(device))[0]

    null_text = encode_text([""])
    out.mkdir(parents=True, exist_ok=True)
    metrics_path = out / "metrics.jsonl"
    if not step:
        metrics_path.unlink(missing_ok=True)
    # (every process reads the offset: the time budget below must end the run at the same step on all of them)
    time_offset = runs.keep_metrics_until(metrics_path, step, rewrite=accelerator.is_main_process) if step else 0.0
    n_params = sum(p.numel() for p in params)
    logger.info("%s peer: %d trainable parameters; budget %s", cfg.kind, n_params,
                f"{cfg.budget_s:.0f} s" if cfg.budget_s else f"{cfg.steps} steps")  # fmt: skip

    def log(record: dict) -> None:
        if accelerator.is_main_process:
            with open(metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    bar = tqdm(total=total, initial=step, desc=f"train {cfg.kind}",
               disable=not (progress and accelerator.is_local_main_process))  # fmt: skip
    t0 = time.perf_counter() - time_offset
    lr_scheduler, scheduled_total = None, total
    probe_from, probe_t0 = step, t0  # (a run resumed before its probe ended times it again)
    while step < total:
        if cfg.budget_s is not None and seconds_per_step is None:
            now = time.perf_counter()
            if now - t0 >= cfg.budget_s:  # the budget ran out before the probe finished
                break
            if step == probe_from + PROBE_WARMUP:
                probe_t0 = now
            elif step == probe_from + PROBE_WARMUP + PROBE_STEPS:
                seconds_per_step = (now - probe_t0) / PROBE_STEPS
                total = max(step, min(cfg.steps, int(cfg.budget_s / seconds_per_step)))
                logger.info("%.3f s per step: %d steps fit the %.0f s budget", seconds_per_step, total, cfg.budget_s)
                bar.reset(total=total)
                bar.update(step)
                if step >= total:  # the budget is spent by the probe's own steps
                    break
        if lr_scheduler is None or scheduled_total != total:  # (the probe may shorten the run: the decay follows)
            lr_scheduler, scheduled_total = lr_schedule(optimizer, cfg.lr, cfg.warmup_steps, total, step), total
        lr = lr_scheduler.get_last_lr()[0]
        seed = step_seed(cfg.seed, step, accelerator.process_index)
        rng = np.random.default_rng(seed)
        gen = torch.Generator("cpu").manual_seed(seed)
        idx = rng.integers(len(captions), size=cfg.batch_size)
        z0 = latents[torch.from_numpy(idx)].to(device)
        text = encode_text([captions[i] for i in idx])
        drop = torch.from_numpy(rng.random(cfg.batch_size) < cfg.text_dropout).to(device)
        text = torch.where(drop[:, None, None], null_text.expand_as(text), text)
        noise = torch.randn(z0.shape, generator=gen).to(device)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (cfg.batch_size,), generator=gen).to(device)
        noisy = noise_scheduler.add_noise(z0, noise, t).contiguous()  # (a strided input crashes conv backward)
        loss = F.mse_loss(
            peer_forward(cfg.kind, model, noisy, t, text).float(),
            prediction_target(noise_scheduler, z0, noise, t).float(),
        )
        if not torch.isfinite(loss):
            raise DSDNInputError(f"the {cfg.kind} peer's loss is {loss.item()} at step {step + 1}: lower --lr.")
        accelerator.backward(loss)
        if cfg.max_grad_norm > 0:
            accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        lr_scheduler.step()
        if ema is not None:
            ema.step(params)
        step += 1
        bar.update(1)
        record = {"step": step, "loss": loss.item(), "lr": lr, "time_s": round(time.perf_counter() - t0, 2)}
        if step % cfg.log_every == 0:
            log(record)
            bar.set_postfix(loss=f"{record['loss']:.4f}")
        if step % cfg.checkpoint_every == 0 and step < total and accelerator.is_main_process:
            runs.save_checkpoint(
                out, step, trainable, optimizer, None, ema, keep=cfg.keep_checkpoints,
                extra={"total": total, "seconds_per_step": seconds_per_step, "ema_step": ema.optimization_step if ema else 0},
            )  # fmt: skip
    bar.close()
    wall = time.perf_counter() - t0
    if step and step % cfg.log_every:
        log(record)  # the last step, whether the budget or the step count ended the run

    model_dir = out / "model"
    if accelerator.is_main_process:
        if ema is not None:
            ema.copy_to(params)
        model = accelerator.unwrap_model(model)
        tmp = out / ".tmp-model"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if cfg.kind == "animatediff":
            # (UNetMotionModel.save_motion_modules rebuilds the adapter from the UNet's config and loses
            # the transformer depth; copy the trained modules into the adapter that made them instead.)
            adapter.load_state_dict({k: v for k, v in model.state_dict().items() if "motion_modules" in k})
            adapter.save_pretrained(tmp / "motion_adapter", safe_serialization=True)
        else:
            model.save_pretrained(tmp / "unet3d", safe_serialization=True)
        info = {"kind": cfg.kind, "base": str(Path(base_path).resolve()),
                "base_fingerprint": base_fingerprint(base_path), "steps": step, "train_seconds": round(wall, 1),
                "probe_seconds_per_step": seconds_per_step,
                "trainable_parameters": n_params, "frame_positions": FRAME_POSITIONS if cfg.kind == "unet3d" else None,
                "config": asdict(cfg), "versions": package_versions()}  # fmt: skip
        atomic_write_text(tmp / PEER_FILE, json.dumps(info, indent=2, default=str))
        shutil.rmtree(model_dir, ignore_errors=True)
        os.replace(tmp, model_dir)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return model_dir


def train_dsdn_like_shipped(out: str | Path, steps: int, base: str | None = None, progress: bool = True,
                            **overrides) -> Path:  # fmt: skip
    """DSDN trained with the first stage of the shipped model's recipe (its ``training/video_run.json``; the
    shipped model also had two fine-tuning stages, ``finetune_run.json`` and ``finetune2_run.json``) for
    ``steps`` steps into ``out``, e.g. on a smaller budget than the shipped model's; returns ``out/model``. The model samples with the
    shipped model's γ, combiner and guidances (chosen for it by measurement, not re-tuned here).
    ``overrides`` replace fields of the recipe (:class:`~dsdn.training.video.VideoTrainConfig`)."""
    from ..generate import default_model_dir
    from ..video_io import atomic_write_text
    from .video import VideoTrainConfig, train_video

    shipped = default_model_dir()
    recipe = json.loads((shipped / "training" / "video_run.json").read_text())["config"]
    recipe.update(base=base or default_base(), out=str(out), steps=int(steps), resume=True, **overrides)
    model_dir = train_video(VideoTrainConfig(**recipe), progress=progress)
    if (model_dir / "config.json").is_file():  # (the main process only)
        sampling = json.loads((shipped / "config.json").read_text())
        config = json.loads((model_dir / "config.json").read_text())
        keys = ("motion_coherence", "combiner", "motion_guidance_scale", "guidance_scale")
        config.update({k: sampling[k] for k in keys if k in sampling})
        atomic_write_text(model_dir / "config.json", json.dumps(config, indent=2, sort_keys=True) + "\n")
    return model_dir


def train_for_benchmark(kind: str, run: str | Path, options: dict) -> Path:
    """Train the model of a benchmark row whose folder holds none, with the row's budget: ``train_steps`` (DSDN
    with the first stage of the shipped recipe, or a peer), or ``train_budget_s`` (a peer), over the row's ``base``
    (default: the shipped model's) and on the benchmark's ``toy_world`` (default: v1); returns the model folder.
    The benchmark trains only through this function, which ``dsdn benchmark quality`` hands to
    :func:`~dsdn.evaluation.benchmark.run_benchmark`."""
    if kind == "dsdn":
        return train_dsdn_like_shipped(run, int(options["train_steps"]))
    budget, steps = options.get("train_budget_s"), options.get("train_steps")
    return train_peer(PeerTrainConfig(kind=kind, base=options.get("base") or default_base(), out=str(run),
                                      toy_world=options.get("toy_world") or "v1",
                                      budget_s=None if budget is None else float(budget),
                                      steps=10**6 if steps is None else int(steps), resume=True))  # fmt: skip
