"""Train the tiny SD-format base from scratch on toy-world frames (``dsdn train base``).

Two stages, as Stable Diffusion was built: an :class:`~diffusers.AutoencoderKL` (64×64 RGB →
16×16×4 latents), then a :class:`~transformers.CLIPTextModel` (with a ``CLIPTokenizer`` whose
vocabulary is exactly the toy world's words) and a :class:`~diffusers.UNet2DConditionModel`
trained jointly on (frame latent, caption) pairs. The result is saved with
``StableDiffusionPipeline.save_pretrained``, so every diffusers pipeline loads it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.toy_world import ToyWorld, vocabulary
from ..devices import resolve_device
from ..errors import DSDNInputError
from ..evaluation.words import direction_dprimes, word_separation
from ..objective import min_snr_weights, weighted_mse
from ..paths import holds_checkpoints, removes_new_folder_on_failure
from ..tiny import MAX_TOKENS
from ..vocabulary import VOCABULARY_FILE
from .configs import BaseTrainConfig

logger = logging.getLogger(__name__)


def build_tiny_base(cfg: BaseTrainConfig, words: list[str]) -> dict:
    """Fresh (untrained) components of the tiny base, in SD format.

    With ``cfg.pooled_text`` the UNet also adds the attention-pooled caption to its timestep embedding
    (diffusers' ``addition_embed_type="text"``), so the words reach every resnet of every level, not only the
    cross-attention layers, as a class label does in a class-conditional model; ``StableDiffusionPipeline`` runs
    such a UNet unchanged."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from ..tiny import sd_scheduler, tiny_clip_tokenizer

    torch.manual_seed(cfg.seed)
    tokenizer = tiny_clip_tokenizer(words, max_length=MAX_TOKENS)
    n = len(cfg.vae_channels)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=cfg.vae_channels, latent_channels=4,
        norm_num_groups=16, layers_per_block=1, sample_size=cfg.size,
    )  # fmt: skip
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=cfg.text_width,
            intermediate_size=4 * cfg.text_width, num_attention_heads=4, num_hidden_layers=2,
            vocab_size=len(tokenizer), max_position_embeddings=MAX_TOKENS, projection_dim=cfg.text_width,
        )
    )  # fmt: skip
    k = len(cfg.unet_channels)
    unet = UNet2DConditionModel(
        sample_size=cfg.size // 2 ** (n - 1), in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * (k - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (k - 1),
        block_out_channels=cfg.unet_channels, layers_per_block=1, cross_attention_dim=cfg.text_width,
        norm_num_groups=16, attention_head_dim=8,
        **(dict(addition_embed_type="text", addition_embed_type_num_heads=4) if cfg.pooled_text else {}),
    )  # fmt: skip
    return dict(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=sd_scheduler())


def random_frames(world: ToyWorld, rng: np.random.Generator, batch: int) -> tuple[torch.Tensor, list[str]]:
    """``batch`` random single frames in [-1, 1] ``(B, 3, H, W)`` and their clips' captions."""
    images, captions = [], []
    for i in rng.integers(len(world), size=batch):
        item = world[int(i)]
        images.append(item["video"][rng.integers(item["video"].shape[0])])
        captions.append(item["caption"])
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x, captions


def cosine_schedule(optimizer, steps: int, warmup: int = 100):
    """Diffusers' linear warm-up then cosine decay to zero over ``steps``."""
    from diffusers.optimization import get_scheduler

    return get_scheduler("cosine", optimizer, num_warmup_steps=warmup, num_training_steps=steps)


#: Run settings that a resumed run must share with the run it continues (the rest, e.g. the device, may change).
_RESUME_KEYS = ("seed", "vae_steps", "vae_batch", "vae_lr", "unet_steps", "unet_batch", "unet_lr", "latent_pool_clips",
                "num_frames", "size", "text_width", "unet_channels", "vae_channels", "text_token_weight",
                "text_bow_weight", "snr_gamma", "pooled_text", "toy_world", "shape_share", "vae_from", "init_from",
                "freeze_text")  # fmt: skip


class StageCheckpoints:
    """Checkpoints of one training stage in ``out/checkpoints-<stage>``: the stage's modules, optimizer,
    LR schedule and random-number states, so that a resumed stage draws the same batches and noise as an
    uninterrupted one. Written atomically and pruned as DSDN's own checkpoints are."""

    def __init__(self, cfg: BaseTrainConfig, stage: str, modules: dict[str, torch.nn.Module]):
        self.folder = Path(cfg.out) / f"checkpoints-{stage}"
        self.every, self.keep, self.modules = cfg.checkpoint_every, cfg.keep_checkpoints, modules
        self.settings = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items() if k in _RESUME_KEYS}

    def save(self, step: int, opt, sched, rng: np.random.Generator, gen: torch.Generator, last: bool) -> None:
        """Save after ``step`` steps when it is a checkpoint step or the stage's ``last``."""
        from . import runs

        if not (last or (self.every and step % self.every == 0)):
            return
        weights = {f"{name}.{k}": v for name, m in self.modules.items() for k, v in m.state_dict().items()}
        extra = {"numpy_rng": rng.bit_generator.state, "torch_generator": gen.get_state(), "settings": self.settings}
        runs.save_checkpoint(self.folder, step, weights, opt, sched, extra=extra, keep=self.keep)

    def resume(self, opt, sched, rng: np.random.Generator, gen: torch.Generator) -> int:
        """Load the newest intact checkpoint (an unreadable one is skipped with a warning); returns its step, 0
        when there is none."""
        from .runs import list_checkpoints, load_checkpoint, remove_stale_temporaries

        remove_stale_temporaries(self.folder)
        for path in reversed(list_checkpoints(self.folder)):
            try:
                weights, state, _ = load_checkpoint(path)
            except Exception as e:  # noqa: BLE001 (a damaged file raises what its reader raises)
                logger.warning("skipping %s: it cannot be read (%s)", path, str(e).splitlines()[0] if str(e) else e)
                continue
            # A setting newer than the checkpoint reads as None there: its default, which that run had.
            changed = sorted(k for k in self.settings if state.get("settings", {}).get(k) != self.settings[k])
            if changed:
                raise DSDNInputError(f"{path} is from a run with other settings ({', '.join(changed)}): "
                                     "resume with the same ones, or give another --out.")  # fmt: skip
            for name, m in self.modules.items():
                prefix = f"{name}."
                m.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)})
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["lr_scheduler"])
            rng.bit_generator.state = state["numpy_rng"]
            gen.set_state(state["torch_generator"])
            logger.info("resumed from %s at step %d", path, state["step"])
            return int(state["step"])
        return 0


def train_vae(vae, world: ToyWorld, cfg: BaseTrainConfig, log, progress: bool = True,
              checkpointed: bool = False) -> float:  # fmt: skip
    """Reconstruction (L1 + MSE) + a small KL, as SD's VAE; returns the latent scaling factor.
    With ``checkpointed`` (as :func:`train_base` runs it), the stage saves and resumes checkpoints in ``cfg.out``."""
    rng = np.random.default_rng([cfg.seed, 1])
    device = resolve_device(cfg.device)
    vae.to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    sched = cosine_schedule(opt, cfg.vae_steps)
    vae.train()
    gen = torch.Generator().manual_seed(cfg.seed)
    checkpoints = StageCheckpoints(cfg, "vae", {"vae": vae}) if checkpointed else None
    start = checkpoints.resume(opt, sched, rng, gen) if checkpoints and cfg.resume else 0
    for step in tqdm(range(start, cfg.vae_steps), desc="vae", initial=start, total=cfg.vae_steps,
                     disable=not progress):  # fmt: skip
        x, _ = random_frames(world, rng, cfg.vae_batch)
        x = x.to(device)
        post = vae.encode(x).latent_dist
        eps = torch.randn(post.mean.shape, generator=gen).to(device)
        rec = vae.decode(post.mean + post.std * eps).sample
        kl = post.kl().mean() / x[0].numel()
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x) + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == cfg.vae_steps - 1:
            log({"stage": "vae", "step": step, "loss": loss.item(), "kl": kl.item()})
        if checkpoints:
            checkpoints.save(step + 1, opt, sched, rng, gen, last=step + 1 == cfg.vae_steps)
    vae.eval()
    with torch.no_grad():
        x, _ = random_frames(world, np.random.default_rng([cfg.seed, 2]), 256)
        x = x.to(device)
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen).to(device)
        rec = vae.decode(post.mode()).sample
    psnr = float(10 * torch.log10(4.0 / F.mse_loss(rec, x)))
    scale = float(1.0 / z.std())
    log({"stage": "vae", "eval_psnr_db": psnr, "latent_std": float(z.std()), "scaling_factor": scale})
    return scale


@torch.no_grad()
def encode_latent_pool(vae, world, num_clips: int, batch: int = 16, progress: bool = True):
    """Encode the first ``num_clips`` clips of ``world`` once: scaled latents ``(N, C, F, h, w)`` and captions.

    The VAE is frozen after its stage, so encoding every clip once instead of every step is
    exact (posterior means are used) and removes most of the per-step cost.
    """
    from ..frame_vae import FrameVAE

    fv = FrameVAE(vae)
    latents, captions = [], []
    for start in tqdm(range(0, num_clips, batch), desc="encoding", disable=not progress):
        items = [world[i] for i in range(start, min(start + batch, num_clips))]
        video = torch.from_numpy(np.stack([it["video"] for it in items])).permute(0, 4, 1, 2, 3).float() / 127.5 - 1
        latents.append(fv.encode(video.to(vae.device), sample=False))
        captions += [it["caption"] for it in items]
    return torch.cat(latents), captions


def train_text_unet(components: dict, world: ToyWorld, cfg: BaseTrainConfig, log, progress: bool = True,
                    checkpointed: bool = False) -> None:  # fmt: skip
    """Text encoder + UNet2D jointly, ε-prediction on frame latents, 10% empty captions (for CFG).

    A still frame shows no motion, so the denoising loss alone lets the text encoder drop the motion words; a
    token-identity term *(ours)* keeps every word in its states: a linear head, dropped after training, must
    read each token back from its state (weight ``cfg.text_token_weight``). ``cfg.text_bow_weight`` *(ours, off
    by default)*: another head must read the caption's words from the mean of all its states. With
    ``cfg.freeze_text`` the text encoder is kept as it is; with ``checkpointed`` (as :func:`train_base` runs
    it), the stage saves and resumes checkpoints in ``cfg.out``.
    """
    vae, text_encoder, tokenizer, unet, scheduler = (components[k] for k in ("vae", "text_encoder", "tokenizer",
                                                                               "unet", "scheduler"))  # fmt: skip
    device = resolve_device(cfg.device)
    rng = np.random.default_rng([cfg.seed, 3])
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    vae.to(device).eval().requires_grad_(False)
    text_encoder.to(device).requires_grad_(not cfg.freeze_text)
    unet.to(device)
    token_head = torch.nn.Linear(cfg.text_width, len(tokenizer)).to(device)
    # Made only when used, so that a run without the term draws the same initial weights as before it existed.
    bow_head = torch.nn.Linear(cfg.text_width, len(tokenizer)).to(device) if cfg.text_bow_weight else None
    latents, captions = encode_latent_pool(vae, world, cfg.latent_pool_clips, progress=progress)
    params = [p for m in (text_encoder, unet, token_head, bow_head) if m is not None for p in m.parameters()
              if p.requires_grad]  # fmt: skip
    opt = torch.optim.AdamW(params, lr=cfg.unet_lr, weight_decay=1e-2)
    sched = cosine_schedule(opt, cfg.unet_steps)
    text_encoder.train(not cfg.freeze_text)
    unet.train()
    trained = {
        "text_encoder": None if cfg.freeze_text else text_encoder,
        "unet": unet,
        "token_head": token_head,
        "bow_head": bow_head,
    }
    trained = {k: m for k, m in trained.items() if m is not None}
    checkpoints = StageCheckpoints(cfg, "unet", trained) if checkpointed else None
    start = checkpoints.resume(opt, sched, rng, gen) if checkpoints and cfg.resume else 0
    for step in tqdm(range(start, cfg.unet_steps), desc="text+unet", initial=start, total=cfg.unet_steps,
                     disable=not progress):  # fmt: skip
        clip = rng.integers(latents.shape[0], size=cfg.unet_batch)
        frame = rng.integers(latents.shape[2], size=cfg.unet_batch)
        z0 = latents[torch.from_numpy(clip).to(device), :, torch.from_numpy(frame).to(device)]  # (B, C, h, w)
        batch_captions = ["" if rng.random() < 0.1 else captions[i] for i in clip]
        ids = tokenizer(
            batch_captions, padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
        )
        input_ids, mask = ids.input_ids.to(device), ids.attention_mask.to(device).bool()
        text = text_encoder(input_ids)[0]  # (B, L, D)
        noise = torch.randn(z0.shape, generator=gen).to(device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (z0.shape[0],), generator=gen).to(device)
        pred = unet(scheduler.add_noise(z0, noise, t), t, text).sample
        loss_denoise = denoising_loss(pred, noise, t, scheduler, cfg.snr_gamma)
        loss_tokens = F.cross_entropy(token_head(text[mask]), input_ids[mask])
        loss = loss_denoise + cfg.text_token_weight * loss_tokens
        record = {}
        if bow_head is not None:
            # The caption's words (an even distribution; empty captions skipped) read from the mean of its states.
            words = torch.zeros(len(input_ids), len(tokenizer), device=device).scatter_(1, input_ids, 1.0)
            words[:, [tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id]] = 0.0
            keep = words.sum(1) > 0
            words = words[keep]
            loss_bow = F.cross_entropy(bow_head(text.mean(1)[keep]), words / words.sum(1, keepdim=True))
            loss = loss + cfg.text_bow_weight * loss_bow
            record["bow_loss"] = loss_bow.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == cfg.unet_steps - 1:
            log({
                "stage": "text+unet", "step": step, "loss": loss_denoise.item(), "token_loss": loss_tokens.item(),
                "lr": sched.get_last_lr()[0], **record,
            })  # fmt: skip
        if cfg.dprime_every and (step + 1) % cfg.dprime_every == 0 and step + 1 < cfg.unet_steps:
            text_encoder.eval()
            dprimes = direction_dprimes(text_encoder, tokenizer)
            log({"stage": "text+unet", "step": step + 1, "direction_dprime": dprimes})
            text_encoder.train()
        if checkpoints:
            checkpoints.save(step + 1, opt, sched, rng, gen, last=step + 1 == cfg.unet_steps)
    text_encoder.eval()
    unet.eval()


def denoising_loss(pred: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, scheduler, snr_gamma: float):
    """ε-prediction MSE; with ``snr_gamma`` > 0, each frame weighted by Min-SNR-γ (Hang et al. 2023, diffusers'
    ``--snr_gamma``), which keeps the nearly clean timesteps from dominating the gradient."""
    return weighted_mse(pred, noise, min_snr_weights(scheduler, t, snr_gamma) if snr_gamma else None)


_LOG_STAGES = {"vae": 0, "text+unet": 1, "done": 2}


def _keep_log_until(path: Path, resumed: dict[str, int]) -> float:
    """On resume: drop the log records of what will be trained again (those of a stage at or after its newest
    checkpoint's step, its stepless summaries, and those of every later stage), so that ``train_log.jsonl``
    stays one curve; returns the last kept ``time_s``, so that time runs on across segments."""
    from .runs import keep_log_records

    stage = "text+unet" if "unet" in resumed else "vae"
    start = resumed.get("unet" if stage == "text+unet" else "vae", 0)

    def keep(record: dict) -> bool:
        order = _LOG_STAGES.get(record.get("stage"), 2)
        return order < _LOG_STAGES[stage] or (order == _LOG_STAGES[stage] and record.get("step", start) < start)

    return keep_log_records(path, keep)


def _load_initial_base(components: dict, path: str, words: list[str]) -> None:
    """Start from the VAE, text encoder and UNet of the base at ``path`` (same vocabulary and architecture)."""
    if (Path(path) / VOCABULARY_FILE).read_text().split() != words:
        raise DSDNInputError(f"init_from={path!r} has another vocabulary than this toy world: it cannot be continued.")
    from ..loading import load_base

    initial = load_base(path)
    for name in ("vae", "text_encoder", "unet"):
        try:
            components[name].load_state_dict(initial[name].state_dict())
        except RuntimeError as e:
            raise DSDNInputError(
                f"init_from={path!r}: its {name} has another shape than this run's settings "
                f"({str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else e}); use that base's settings."
            ) from e
    components["vae"].register_to_config(scaling_factor=initial["vae"].config.scaling_factor)


@removes_new_folder_on_failure(lambda cfg, *a, **k: cfg.out, keep=holds_checkpoints)
def train_base(cfg: BaseTrainConfig, progress: bool = True) -> Path:
    """Run both stages and save a standard SD folder (plus ``dsdn_vocabulary.txt``) to ``cfg.out``."""
    from diffusers import StableDiffusionPipeline

    from ..video_io import package_versions
    from .runs import list_checkpoints

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train_log.jsonl"
    newest = {stage: list_checkpoints(out / f"checkpoints-{stage}") for stage in ("vae", "unet")}
    newest = {stage: int(found[-1].name.rsplit("-", 1)[1]) for stage, found in newest.items() if found}
    if newest and not cfg.resume:
        raise DSDNInputError(
            f"out={str(out)!r} already holds checkpoints: pass --resume to continue, or another --out."
        )
    t0 = time.perf_counter() - (_keep_log_until(log_path, newest) if cfg.resume else 0.0)
    if not cfg.resume:
        log_path.unlink(missing_ok=True)

    def log(record: dict) -> None:
        record = {"time_s": round(time.perf_counter() - t0, 1), **record}
        with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        logger.info("%s", record)

    words = vocabulary()
    components = build_tiny_base(cfg, words)
    world = ToyWorld("train", length=100_000, num_frames=cfg.num_frames, size=cfg.size, seed=cfg.seed,
                     version=cfg.toy_world, shape_share=cfg.shape_share)  # fmt: skip
    if cfg.init_from:
        _load_initial_base(components, cfg.init_from, words)
        log({"stage": "vae", "from": cfg.init_from, "scaling_factor": components["vae"].config.scaling_factor})
    elif cfg.vae_from:
        from diffusers import AutoencoderKL

        # Built above all the same, so that the text encoder and UNet start as in a full run.
        components["vae"] = AutoencoderKL.from_pretrained(cfg.vae_from, subfolder="vae")
        log({"stage": "vae", "from": cfg.vae_from, "scaling_factor": components["vae"].config.scaling_factor})
    else:
        scale = train_vae(components["vae"], world, cfg, log, progress, checkpointed=True)
        components["vae"].register_to_config(scaling_factor=scale)
    train_text_unet(components, world, cfg, log, progress, checkpointed=True)
    text_encoder, tokenizer = components["text_encoder"], components["tokenizer"]
    log({
        "stage": "text+unet", "word_separation": word_separation(text_encoder, tokenizer),
        "direction_dprime": direction_dprimes(text_encoder, tokenizer),
    })  # fmt: skip
    for name in ("vae", "text_encoder", "unet"):
        components[name].to("cpu")
    pipe = StableDiffusionPipeline(
        **components, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipe.save_pretrained(out, safe_serialization=True)
    (out / VOCABULARY_FILE).write_text("\n".join(words) + "\n")
    wall = time.perf_counter() - t0
    (out / "dsdn_train_base.json").write_text(
        json.dumps({"config": asdict(cfg), "wall_seconds": round(wall, 1), "versions": package_versions()}, indent=2)
    )
    log({"stage": "done", "wall_seconds": round(wall, 1)})
    return out
