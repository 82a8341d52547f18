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
from dataclasses import asdict, dataclass
from pathlib import Path, PosixPath, WindowsPath

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.toy_world import VERSIONS as TOY_WORLD_VERSIONS
from ..errors import DSDNInputError, DSDNRunError, check_choice, check_float, check_int, check_seed, check_size, invalid
from ..objective import MOTION_LOSSES, parse_word_pairs
from ..options import COMBINERS
from ..paths import check_output_folder, holds_checkpoints, removes_new_folder_on_failure

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
TRAINABLE_FILE = "trainable.safetensors"
EMA_FILE = "ema.safetensors"
STATE_FILE = "state.pt"

DEFAULT_VALIDATION_PROMPTS = (
    "a red circle moving right",
    "a green square moving left",
    "a blue digit one moving up",
    "a yellow triangle moving down",
    "a white digit five moving left",
    "a red digit eight moving up",
    "a green circle moving down",
    "a blue square moving right",
)


@dataclass
class VideoTrainConfig:
    """Everything that determines a DSDN training run (validated on construction)."""

    base: str
    out: str = "outputs/runs/dsdn-tiny"
    preset: str = "tiny"
    data: str = "toy"
    captions: str | None = None
    video_column: str = "video"
    caption_column: str = "caption"
    toy_clips: int = 4000
    toy_world: str = "v1"
    toy_transpose: bool = False
    toy_motions: tuple[str, ...] | None = None
    num_frames: int = 8
    frame_stride: int = 1
    size: int | None = None
    steps: int = 3000
    batch_size: int = 8
    lr: float = 5e-4
    weight_decay: float = 1e-2
    lr_schedule: str = "cosine"
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    ema_decay: float = 0.0
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    text_dropout: float = 0.1
    motion_weight: float = 1.0
    combine_weight: float = 0.0
    combiner: str | None = None
    motion_coherence: float | None = None
    snr_gamma: float = 0.0
    motion_loss: str = "target"
    contrast_weight: float = 0.0
    contrast_margin: float = 0.2
    contrast_pairs: tuple[str, ...] = ("left:right", "up:down", "upwards:downwards", "rises:falls")
    shared_noise: float = 0.0
    cross_frame_attention: bool = False
    cache_latents: bool = True
    checkpoint_every: int = 250
    keep_checkpoints: int = 3
    validate_every: int = 500
    validation_prompts: tuple[str, ...] = DEFAULT_VALIDATION_PROMPTS
    validation_steps: int = 20
    seed: int = 0
    resume: bool = False
    init_from: str | None = None
    log_every: int = 10

    def __post_init__(self):
        for name, low in (("toy_clips", 1), ("num_frames", 2), ("frame_stride", 1), ("steps", 1), ("batch_size", 1),
                          ("warmup_steps", 0), ("checkpoint_every", 1), ("keep_checkpoints", 1),
                          ("validate_every", 0), ("validation_steps", 1), ("log_every", 1)):  # fmt: skip
            check_int(name, getattr(self, name), low)
        check_seed(self.seed)
        check_output_folder("out", self.out)
        self._check_against_base_and_preset()
        if check_float("lr", self.lr, 0.0) == 0.0:
            raise invalid("lr", self.lr, "must be greater than 0")
        check_float("weight_decay", self.weight_decay, 0.0)
        check_float("max_grad_norm", self.max_grad_norm, 0.0)
        check_float("ema_decay", self.ema_decay, 0.0, 1.0)
        check_float("text_dropout", self.text_dropout, 0.0, 1.0)
        check_float("motion_weight", self.motion_weight, 0.0)
        check_float("combine_weight", self.combine_weight, 0.0)
        if self.combiner is not None:
            check_choice("combiner", self.combiner, COMBINERS)
        if self.motion_coherence is not None:
            check_float("motion_coherence", self.motion_coherence, 0.0, 1.0)
        check_float("snr_gamma", self.snr_gamma, 0.0)
        check_choice("motion_loss", self.motion_loss, MOTION_LOSSES)
        check_float("contrast_weight", self.contrast_weight, 0.0)
        check_float("contrast_margin", self.contrast_margin, 0.0)
        check_float("shared_noise", self.shared_noise, 0.0, 1.0)
        self.contrast_pairs = tuple(self.contrast_pairs)
        try:
            parse_word_pairs(self.contrast_pairs)
        except ValueError as e:
            raise DSDNInputError(str(e)) from None
        check_choice("mixed_precision", self.mixed_precision, ("no", "bf16", "fp16"))
        check_choice("lr_schedule", self.lr_schedule, ("cosine", "constant", "linear"))
        check_choice("toy_world", self.toy_world, TOY_WORLD_VERSIONS)
        check_toy_options(self)
        if self.init_from is not None and not (Path(self.init_from).expanduser() / "config.json").is_file():
            raise DSDNInputError(
                f"init_from={self.init_from!r} is not a DSDN model folder (no config.json): give one saved by a run "
                "(its model/) or the shipped one."
            )
        self.validation_prompts = tuple(self.validation_prompts)
        if self.data != "toy":
            from ..data.video_folder import read_captions

            if not Path(self.data).expanduser().is_dir():
                raise invalid("data", self.data, "must be 'toy' or a folder of videos")
            read_captions(self.data, self.captions)  # a missing, unreadable or malformed file fails now

    def _check_against_base_and_preset(self) -> None:
        """Size and frames against what the base, the preset (or --init-from model) and the data allow,
        from JSON and YAML files only: nothing is loaded and no clip is made before they pass."""
        from ..adapter import FRAME_POSITIONS
        from ..loading import base_limits, read_json

        _resolve_preset(self.preset)  # a missing or broken preset file fails now, not after the data is made
        frames = FRAME_POSITIONS
        if self.init_from is not None:
            config = read_json(Path(self.init_from).expanduser() / "config.json")
            frames = config.get("motion_frame_positions", frames) if isinstance(config, dict) else frames
        check_int("num_frames", self.num_frames, 2, frames if isinstance(frames, int) and frames > 0 else None)
        if self.size is None:
            return
        check_int("size", self.size, 8)
        check_size("size", self.size, base_limits(self.base).get("size_factor"))
        if self.data == "toy" and (self.size % 16 or self.size < 32):
            raise invalid("size", self.size, "the toy world needs a multiple of 16, >= 32")


class TrainingDiverged(DSDNRunError, RuntimeError):
    """The loss became NaN or infinite."""


class CheckpointWriteError(DSDNRunError, OSError):
    """A checkpoint could not be written (e.g. the disk is full); earlier checkpoints are intact."""


# ---------------------------------------------------------------------------------------- checkpoints
def list_checkpoints(out: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary folders are ignored)."""
    out = Path(out)
    if not out.is_dir():
        return []
    found = [p for p in out.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def save_checkpoint(out: Path, step: int, trainable: dict, optimizer, lr_scheduler, ema=None, extra: dict | None = None,
                    keep: int = 3) -> Path:  # fmt: skip
    """Write ``out/checkpoint-<step>`` atomically (temp folder + rename) and prune to the last ``keep``.

    A kill at any moment leaves every listed checkpoint complete: files are written and fsynced in a
    temporary folder that only a rename makes visible, and a checkpoint is first renamed away before
    it is deleted (re-saving a step, pruning). If writing fails (e.g. the disk is full), the
    temporary folder is removed, the earlier checkpoints are untouched, and the error names them.
    """
    from safetensors.torch import save_file

    final = out / f"{CHECKPOINT_PREFIX}{step:07d}"
    tmp = out / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in trainable.items()}, tmp / TRAINABLE_FILE)
        if ema is not None:
            save_file({f"{i}": p.detach().contiguous().cpu() for i, p in enumerate(ema.shadow_params)}, tmp / EMA_FILE)
        torch.save(
            {"step": step, "optimizer": optimizer.state_dict(),
             **({} if lr_scheduler is None else {"lr_scheduler": lr_scheduler.state_dict()}), **(extra or {})},
            tmp / STATE_FILE,
        )
        _fsync_dir(tmp)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = list_checkpoints(out)
        kept = f"the last complete checkpoint, {previous[-1]}, is intact" if previous else "no earlier checkpoint exists"
        raise CheckpointWriteError(
            f"could not write the step-{step} checkpoint ({e.strerror or e}); {kept}. Free disk space, then --resume."
        ) from e
    if final.exists():  # re-saving the same step (e.g. after a resume): move the old one away first
        _discard(final)
    os.replace(tmp, final)
    for old in list_checkpoints(out)[:-keep]:
        _discard(old)
    return final


def _discard(path: Path) -> None:
    """Delete a folder so that no half-deleted checkpoint is ever listed: rename it away, then remove it."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def remove_stale_temporaries(out: Path) -> list[str]:
    """Remove temporary and half-deleted folders left by a killed run; returns their names."""
    if not Path(out).is_dir():
        return []
    stale = [p for p in Path(out).iterdir() if p.is_dir() and p.name.startswith((".tmp-", ".trash-"))]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in stale]


def load_checkpoint(path: Path) -> tuple[dict, dict, dict | None]:
    """``(trainable weights, state, ema weights or None)`` of a checkpoint folder (no pickled code is run)."""
    from safetensors.torch import load_file

    trainable = load_file(path / TRAINABLE_FILE)
    # Checkpoints of --init-from runs written before _plain_config hold a path in their adapter config; pathlib
    # classes only build paths, so allowing them runs no code.
    with torch.serialization.safe_globals([PosixPath, WindowsPath]):
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    state["adapter_config"] = _plain_config(state.get("adapter_config", {}))
    ema = load_file(path / EMA_FILE) if (path / EMA_FILE).is_file() else None
    return trainable, state, ema


def load_newest_checkpoint(checkpoints: list[Path]) -> tuple[Path, dict, dict, dict | None]:
    """``(folder, trainable, state, ema)`` of the newest checkpoint that loads. A damaged one (a torn write, a
    bad disk) is skipped with a warning naming it, and the next older one is tried."""
    for path in reversed(checkpoints):
        try:
            return (path, *load_checkpoint(path))
        except Exception as e:  # safetensors, torch.load and the file system raise many types
            logger.warning("skipped checkpoint %s: it does not load (%s: %s)", path, type(e).__name__,
                           (str(e).splitlines() or [""])[0][:200])  # fmt: skip
    raise DSDNInputError(
        f"none of the {len(checkpoints)} checkpoint(s) in {checkpoints[0].parent} loads (see the warnings): start "
        "again without --resume in a new --out."
    )


def _plain_config(config) -> dict:
    """An adapter config as plain data, without diffusers' bookkeeping keys (``_name_or_path`` is a ``Path``
    for a model loaded from a folder, which ``torch.load(weights_only=True)`` would refuse)."""
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


# ---------------------------------------------------------------------------------------- data
def check_toy_options(cfg) -> None:
    """Validate (and normalise) the toy-world options shared by DSDN's and the peers' configs."""
    from ..data.toy_world import MOTIONS

    toy_only = [name for name, on in (("toy_transpose", cfg.toy_transpose), ("toy_motions", cfg.toy_motions)) if on]
    if toy_only and cfg.data != "toy":
        raise DSDNInputError(f"{toy_only[0]} applies to the toy world only, not to data={cfg.data!r}.")
    if cfg.toy_motions is not None:
        motions = cfg.toy_motions.split(",") if isinstance(cfg.toy_motions, str) else cfg.toy_motions
        cfg.toy_motions = tuple(m.strip() for m in motions)
        if not cfg.toy_motions or any(m not in MOTIONS for m in cfg.toy_motions):
            raise DSDNInputError(f"toy_motions={cfg.toy_motions!r} is invalid: must be one or more of {', '.join(MOTIONS)}")


def build_dataset(cfg: VideoTrainConfig, size: int):
    """The training clips: the toy world's train split, or a folder of real videos."""
    from ..data import ToyWorld, VideoFolder

    if cfg.data == "toy":
        return ToyWorld("train", length=cfg.toy_clips, num_frames=cfg.num_frames, size=size, seed=cfg.seed,
                        version=cfg.toy_world, transpose=cfg.toy_transpose, motions=cfg.toy_motions)  # fmt: skip
    return VideoFolder(
        cfg.data, captions=cfg.captions, video_column=cfg.video_column, caption_column=cfg.caption_column,
        num_frames=cfg.num_frames, frame_stride=cfg.frame_stride, size=size,
    )  # fmt: skip


def _to_video_tensor(items: list[dict], device) -> torch.Tensor:
    video = torch.from_numpy(np.stack([it["video"] for it in items]))  # (B, F, H, W, 3) uint8
    return (video.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0).to(device)  # (B, 3, F, H, W)


@torch.no_grad()
def encode_dataset(dataset, frame_vae, device, batch: int = 16, progress: bool = True):
    """Encode every readable clip once: latents ``(N, C, F, h, w)`` on CPU and captions."""
    get = getattr(dataset, "get", dataset.__getitem__)
    latents, captions, pending = [], [], []

    def flush():
        latents.append(frame_vae.encode(_to_video_tensor(pending, device), sample=False).cpu())
        captions.extend(it["caption"] for it in pending)
        pending.clear()

    for i in tqdm(range(len(dataset)), desc="encoding clips", disable=not progress):
        item = get(i)
        if item is not None:
            pending.append(item)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    if not latents:
        raise DSDNInputError(f"none of the {len(dataset)} clips could be read: check the video files and captions.")
    return torch.cat(latents), captions


# ---------------------------------------------------------------------------------------- training
def _has_accelerator_device() -> bool:
    xpu = getattr(torch, "xpu", None)
    return bool(
        torch.cuda.is_available() or torch.backends.mps.is_available() or (xpu is not None and xpu.is_available())
    )


def _step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.default_rng([seed, step, rank]).integers(2**62))


def _resolve_preset(name: str):
    from ..presets import AdapterPreset, get_preset

    if name.endswith((".yaml", ".yml")):
        return AdapterPreset.from_yaml(name)
    return get_preset(name)


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
    from ..vocabulary import read_vocabulary
    from ..video_io import atomic_write_text, package_versions

    # Without an accelerator, run on CPU; several processes then use gloo (torchrun or accelerate launch).
    accelerator = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not _has_accelerator_device())
    device, rank, world = accelerator.device, accelerator.process_index, accelerator.num_processes
    out = Path(cfg.out)
    checkpoints = list_checkpoints(out) if cfg.resume else []
    if not cfg.resume and list_checkpoints(out):
        raise DSDNInputError(f"out={str(out)!r} already holds checkpoints: pass --resume to continue, or another --out.")
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
        latents, captions = encode_dataset(dataset, frame_vae, device, progress=progress and accelerator.is_local_main_process)
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
            _to_video_tensor([dataset[i] for i in range(min(8, len(dataset)))], device), sample=False
        )  # fmt: skip
        motion_scale = estimate_motion_scale(sample)
        torch.manual_seed(cfg.seed)
        adapter = _resolve_preset(cfg.preset).build(unet, motion_scale=motion_scale)
    if resume_state is None and cfg.shared_noise > 0:
        adapter.register_to_config(shared_noise=cfg.shared_noise)  # the model samples from the prior it learned
    if resume_state is None and cfg.cross_frame_attention:
        adapter.register_to_config(cross_frame_attention=True)  # and with the attention it learned with
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
    params = denoiser.set_trainable()
    if cfg.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
        adapter.motion_unet.enable_gradient_checkpointing()

    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    lr_scheduler = get_scheduler(
        cfg.lr_schedule if cfg.lr_schedule != "constant" else "constant_with_warmup", optimizer,
        num_warmup_steps=cfg.warmup_steps, num_training_steps=cfg.steps,
    )  # fmt: skip
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.ema_decay > 0 else None
    start = 0
    if resume_state is not None:
        optimizer.load_state_dict(resume_state["optimizer"])
        lr_scheduler.load_state_dict(resume_state["lr_scheduler"])
        start = int(resume_state["step"])
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
            z = frame_vae.encode(_to_video_tensor(items, device), sample=False)
        return z, [it["caption"] for it in items]

    # The output folder is created only now, after the base, the data and the model are known to be good.
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        stale = remove_stale_temporaries(out)
        if stale:
            logger.warning("removed %d unfinished folder(s) left by an interrupted run: %s", len(stale), ", ".join(stale))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        run = {"config": asdict(cfg), "resolved": {"size": size, "clips": n_clips, "processes": world,
               "adapter": dict(adapter.config), "trainable_parameters": sum(p.numel() for p in params),
               "resumed_from_step": start}, "versions": package_versions()}  # fmt: skip
        atomic_write_text(out / "run.json", json.dumps(run, indent=2, default=str))

    metrics_path = out / "metrics.jsonl"
    time_offset = _keep_metrics_until(metrics_path, start, rewrite=accelerator.is_main_process) if start else 0.0
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
            path = save_checkpoint(
                out, step, trainable, optimizer, lr_scheduler, ema,
                extra={"adapter_config": _plain_config(adapter.config), "ema_step": ema.optimization_step if ema else 0},
                keep=cfg.keep_checkpoints,
            )  # fmt: skip
        accelerator.wait_for_everyone()
        return path

    ddp_denoiser.train()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train",
               disable=not (progress and accelerator.is_local_main_process))  # fmt: skip
    for step in bar:
        seed = _step_seed(cfg.seed, step, rank)
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
        if done % cfg.log_every == 0 or done == cfg.steps:
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
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            last_ckpt = checkpoint(done) or last_ckpt
        if cfg.validate_every and (done % cfg.validate_every == 0 or done == cfg.steps) and accelerator.is_main_process:
            log({"step": done, **validate(base, adapter, ema, params, cfg, out / "samples" / f"step-{done:07d}")})
    bar.close()

    model_dir = out / "model"
    if accelerator.is_main_process:
        if ema is not None:
            ema.copy_to(params)
        pipe = _pipeline(base, adapter)
        tmp = out / ".tmp-model"
        shutil.rmtree(tmp, ignore_errors=True)
        pipe.save_pretrained(tmp, include_base=True)
        shutil.rmtree(model_dir, ignore_errors=True)
        os.replace(tmp, model_dir)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return model_dir


def _keep_metrics_until(path: Path, step: int, rewrite: bool = True) -> float:
    """On resume from ``step``: drop the records a killed run logged after it (they are trained again), so
    ``metrics.jsonl`` stays one curve; returns the last kept ``time_s``, so that time runs on across segments.
    Every process reads the same offset; only the one with ``rewrite`` writes the file."""
    return keep_log_records(path, lambda record: record.get("step", 0) <= step, rewrite)


def keep_log_records(path: Path, keep, rewrite: bool = True) -> float:
    """Keep the JSON-lines records of ``path`` for which ``keep(record)`` holds (lines cut short by a kill are
    dropped); returns the last kept ``time_s`` (0 when none). Only with ``rewrite`` is the file rewritten."""
    from ..video_io import atomic_write_text

    if not path.is_file():
        return 0.0
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the kill
            continue
        if keep(record):
            kept.append((line, record))
    if rewrite:
        atomic_write_text(path, "".join(f"{line}\n" for line, _ in kept))
    return max((r["time_s"] for _, r in kept if r.get("time_s") is not None), default=0.0)


def _load_initial_model(path: str, unet):
    """The adapter of a saved DSDN model, with its content LoRA loaded into ``unet`` (the frozen base's),
    to start a run from trained weights (fine-tuning) instead of the preset's fresh ones."""
    from ..adapter import LORA_WEIGHT_NAME
    from ..content_stream import LORA_ADAPTER_NAME, level_channels
    from ..pipeline import load_adapter, safetensors_shapes

    folder = Path(path).expanduser()
    adapter = load_adapter(folder)
    want = tuple(level_channels(unet.config.block_out_channels))
    if tuple(adapter.config.content_channels) != want:
        raise DSDNInputError(
            f"init_from={path!r} was trained on a base with level widths {tuple(adapter.config.content_channels)}, "
            f"this base has {want}: pass the base it was trained on."
        )
    if adapter.config.lora_rank > 0 and (folder / LORA_WEIGHT_NAME).is_file():
        safetensors_shapes(folder / LORA_WEIGHT_NAME)
        unet.load_lora_adapter(str(folder), weight_name=LORA_WEIGHT_NAME, adapter_name=LORA_ADAPTER_NAME, prefix="unet")
    return adapter


def _pipeline(base: dict, adapter):
    from ..pipeline import DSDNPipeline

    pipe = DSDNPipeline(**{k: base[k] for k in ("vae", "text_encoder", "tokenizer", "unet", "scheduler")}, adapter=adapter)
    pipe.known_words = base.get("known_words")
    return pipe


@torch.no_grad()
def validate(base: dict, adapter, ema, params, cfg: VideoTrainConfig, folder: Path) -> dict:
    """Sample the validation prompts (seeded), write mp4s, and judge them by pixels: the lenient checks
    (direction, colour, visibility, shape kept) and the strict judge's clean rate."""
    from ..data.toy_world import object_scale
    from ..evaluation.clean import judge_strict
    from ..evaluation.toy import judge_clip, parse_prompt
    from ..video_io import save_video

    if ema is not None:
        ema.store(params)
        ema.copy_to(params)
    try:
        pipe = _pipeline(base, adapter)
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
        clean += judge_strict(video, want["colour"], want["motion"], object_scale=scale).clean
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
    return _pipeline(components, adapter)
