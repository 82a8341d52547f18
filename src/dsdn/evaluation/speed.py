"""``dsdn benchmark speed``: DSDN against diffusers' AnimateDiff, side by side in one run.

For each scale (``tiny``: the shipped model and its base; ``sd15``: SD-1.5-shaped models with
random weights, built offline from the shipped configs) it measures, per method:

* parameters of the whole denoiser and of what the method adds to the image UNet; the
  AnimateDiff motion adapter is sized (layers per block, transformer layers) to match DSDN's
  added parameters as closely as its configuration allows;
* seconds per denoising step (one classifier-free-guidance batch through the denoiser, median
  of repeats) for several frame counts and resolutions, and seconds per clip (the whole
  pipeline: text encoding, sampling, VAE decoding);
* peak resident memory (each measurement runs in a fresh process);
* FLOPs per step (``torch.utils.flop_counter``) against the machine's measured fp32 matmul
  throughput (fraction of peak).

Then, for DSDN, the effect of its sampling choices measured the same way: classifier-free
guidance batched into one call vs. two calls; PyTorch SDPA attention vs. diffusers' classic
attention; bfloat16 vs. float32 weights; and, at every scale, the step cache (:mod:`dsdn.step_cache`): the time
of a cached step and of a clip sampled with the cache.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import check_int, invalid
from ..fields import option

SPEED_BEGIN, SPEED_END = "<!-- dsdn benchmark speed: begin -->", "<!-- dsdn benchmark speed: end -->"


@dataclass
class SpeedConfig:
    """What the speed benchmark measures (defaults: about 10 minutes on 2 CPU cores)."""

    scales: tuple[str, ...] = option(
        ("tiny", "sd15"), "Comma-separated: tiny (the shipped model), sd15 (random weights).", comma_list=True
    )
    tiny_frames: tuple[int, ...] = option((8, 16, 32), "Frame counts timed at the tiny scale.", comma_list=True)
    tiny_sizes: tuple[int, ...] = option((64, 128), "Resolutions (pixels) timed at the tiny scale.", comma_list=True)
    sd15_frames: tuple[int, ...] = option((8, 16, 32), "Frame counts timed at the sd15 scale.", comma_list=True)
    sd15_sizes: tuple[int, ...] = option((64,), "Resolutions (pixels) timed at the sd15 scale.", comma_list=True)
    clip_steps: int = option(10, "Denoising steps of the timed whole-pipeline clip.")
    repeats: int = option(3, "Timed repeats per figure (the median is reported), after a warm-up.")
    threads: int = 0  # 0: torch's default
    cache_interval: int = option(2, "The step cache's rows: a full step every this many (>= 2).")
    cache_depth: int = option(1, "The step cache's rows: levels at each end that run on cached steps.")

    def __post_init__(self):
        if not self.scales:
            raise invalid("scales", ",".join(self.scales), "must name at least one scale: tiny, sd15")
        for s in self.scales:
            if s not in ("tiny", "sd15"):
                raise invalid("scales", s, "must be tiny or sd15")
        for name in ("tiny_frames", "sd15_frames", "tiny_sizes", "sd15_sizes"):
            values = tuple(getattr(self, name))
            setattr(self, name, values)
            if not values:
                raise invalid(name, values, "must list at least one value")
            for v in values:
                check_int(name, v, 2)
        for v in self.tiny_sizes + self.sd15_sizes:
            if v % 8:
                raise invalid("sizes", v, "must be multiples of 8 pixels")
        check_int("clip_steps", self.clip_steps, 1)
        check_int("repeats", self.repeats, 1)
        check_int("threads", self.threads, 0)
        check_int("cache_interval", self.cache_interval, 2)
        check_int("cache_depth", self.cache_depth, 1)


# ------------------------------------------------------------------------------ building the models
def _sd15_components(seed: int = 0) -> dict:
    """SD-1.5-shaped VAE, text encoder, tokenizer, UNet and scheduler with random weights (offline)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from ..loading import sd15_config_dir, sd15_tokenizer

    torch.manual_seed(seed)
    root = sd15_config_dir()
    unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(root / "unet"))
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(root / "vae"))
    text_encoder = CLIPTextModel(CLIPTextConfig.from_json_file(root / "text_encoder" / "config.json"))
    tokenizer = sd15_tokenizer()
    scheduler = DDIMScheduler.from_config(DDIMScheduler.load_config(root / "scheduler"))
    return dict(
        vae=vae.eval(), text_encoder=text_encoder.eval(), tokenizer=tokenizer, unet=unet.eval(), scheduler=scheduler
    )


def speed_pipeline(scale: str):
    from ..generate import resolve_model_dir
    from ..pipeline import DSDNPipeline
    from ..presets import get_preset

    if scale == "tiny":
        return DSDNPipeline.from_pretrained(resolve_model_dir(None))
    parts = _sd15_components()
    adapter = get_preset("sd15").build(parts["unet"])
    return DSDNPipeline.from_components(parts, adapter)


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def animatediff_pipeline(dsdn_pipe, target_params: int):
    from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter, UNetMotionModel

    from ..peers import motion_adapter_config

    unet2d = dsdn_pipe.base_unet_copy()
    adapter = MotionAdapter(**motion_adapter_config(unet2d.config, target_params))
    unet = UNetMotionModel.from_unet2d(unet2d, adapter).eval()
    return AnimateDiffPipeline(vae=dsdn_pipe.vae, text_encoder=dsdn_pipe.text_encoder, tokenizer=dsdn_pipe.tokenizer,
                               unet=unet, motion_adapter=adapter,
                               scheduler=DDIMScheduler.from_config(dsdn_pipe.scheduler.config))  # fmt: skip


# ------------------------------------------------------------------------------------- measurement
def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: allocator, one-time kernel choices
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def _flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_throughput(n: int = 1536, repeats: int = 5) -> float:
    """Measured fp32 matmul FLOP/s of this machine (the 'peak' used for the fraction)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = median_seconds(lambda: a @ b, repeats)
    return 2 * n**3 / seconds


def step_fn(method: str, pipe, frames: int, size: int, dtype=None, cfg_batched: bool = True, cache=None):
    """A zero-argument call doing one CFG denoising step of ``method`` on random latents (with ``cache``, a
    :class:`~dsdn.step_cache.StepCache`, one of its cached steps)."""
    import torch

    f = pipe.vae_scale_factor
    h = w = size // f
    c = pipe.unet.config.in_channels
    text_len = pipe.tokenizer.model_max_length
    dim = pipe.text_encoder.config.hidden_size
    dtype = dtype or torch.float32
    g = torch.Generator().manual_seed(0)
    lat = torch.randn(2, c, frames, h, w, generator=g).to(dtype)
    text = torch.randn(2, text_len, dim, generator=g).to(dtype)
    t = torch.tensor([500, 500])
    if method == "dsdn":
        denoiser = pipe.denoiser()
        if cache is not None:
            cache.begin_step(0)
            denoiser(lat, lat, t, text, cache=cache)  # the full step that keeps the deep features
            return lambda: (cache.begin_step(1), denoiser(lat, lat, t, text, cache=cache))
        if cfg_batched:
            return lambda: denoiser(lat, lat, t, text)
        return lambda: (denoiser(lat[:1], lat[:1], t[:1], text[:1]), denoiser(lat[1:], lat[1:], t[1:], text[1:]))
    unet = pipe.unet  # UNetMotionModel takes one text per frame
    per_frame = text.repeat_interleave(frames, dim=0)
    return lambda: unet(lat, t, encoder_hidden_states=per_frame)


def _set_classic_attention(pipe) -> None:
    from diffusers.models.attention_processor import Attention, AttnProcessor

    for module in (pipe.unet, pipe.adapter):
        for m in module.modules():
            if isinstance(m, Attention):
                m.set_processor(AttnProcessor())


def measure_case(case: dict) -> dict:
    """One measurement in this process: ``case`` names scale, method and what to time."""
    import resource

    import torch

    from ..step_cache import StepCache

    if case.get("threads"):
        torch.set_num_threads(case["threads"])
    from diffusers.utils import logging as d_logging

    d_logging.set_verbosity_error()
    scale, method = case["scale"], case["method"]
    out: dict[str, Any] = {"scale": scale, "method": method}
    with torch.inference_mode():
        pipe = speed_pipeline(scale)
        denoiser = pipe.denoiser()
        dsdn_added = sum(p.numel() for _, p in denoiser.trainable_parameters())
        base_params = _count(pipe.unet) - sum(p.numel() for _, p in denoiser.content.lora_parameters())
        if method == "animatediff":
            pipe = animatediff_pipeline(pipe, dsdn_added)
            out["added_params"] = _count(pipe.unet) - base_params
            out["motion_adapter"] = {k: v for k, v in pipe.unet.config.items() if k.startswith("motion_")}
        else:
            out["added_params"] = dsdn_added
            if case.get("variant") == "classic-attention":
                _set_classic_attention(pipe)
        out["denoiser_params"] = base_params + out["added_params"]
        pipe.set_progress_bar_config(disable=True)
        dtype = torch.bfloat16 if case.get("variant") == "bf16" else torch.float32
        if dtype != torch.float32:
            pipe.to(dtype=dtype)
        steps, cache = {}, case.get("cache")
        for frames, size in case["grid"]:
            step_cache = None if cache is None else StepCache(cache["interval"], cache["depth"])
            fn = step_fn(method, pipe, frames, size, dtype, case.get("variant") != "cfg-two-calls", step_cache)
            steps[f"{frames}x{size}"] = median_seconds(fn, case["repeats"])
            if (frames, size) == tuple(case["grid"][0]) and case.get("flops"):
                out["flops_per_step"] = _flops(fn)
        out["seconds_per_step"] = steps
        if case.get("clip_steps"):
            frames, size = case["grid"][0]
            prompt = "a red circle moving right"
            kw = dict(num_frames=frames, height=size, width=size, num_inference_steps=case["clip_steps"],
                      guidance_scale=7.5, output_type="np", generator=torch.Generator().manual_seed(0))  # fmt: skip
            if cache is not None:
                kw.update(cache_interval=cache["interval"], cache_depth=cache["depth"])
            out["seconds_per_clip"] = median_seconds(lambda: pipe(prompt, **kw), 1)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _in_fresh_process(case: dict) -> dict:
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure_case, (case,))


def run_speed(cfg: SpeedConfig, progress: bool = True) -> dict:
    """Every measurement of :class:`SpeedConfig`; returns the results (JSON-serialisable)."""
    import torch
    from tqdm.auto import tqdm

    threads = cfg.threads or torch.get_num_threads()
    cases = []
    for scale in cfg.scales:
        frames, sizes = (cfg.tiny_frames, cfg.tiny_sizes) if scale == "tiny" else (cfg.sd15_frames, cfg.sd15_sizes)
        grid = [(f, sizes[0]) for f in frames] + [(frames[0], s) for s in sizes[1:]]
        for method in ("dsdn", "animatediff"):
            cases.append(dict(scale=scale, method=method, grid=grid, repeats=cfg.repeats, flops=True,
                              clip_steps=cfg.clip_steps, threads=threads))  # fmt: skip
        cache = {"interval": cfg.cache_interval, "depth": cfg.cache_depth}
        cases.append(dict(scale=scale, method="dsdn", variant="cache", grid=grid[:1], repeats=cfg.repeats, flops=True,
                          clip_steps=cfg.clip_steps, threads=threads, cache=cache))  # fmt: skip
        if scale == "tiny":
            for variant in ("cfg-two-calls", "classic-attention", "bf16"):
                cases.append(dict(scale=scale, method="dsdn", variant=variant, grid=grid[:1], repeats=cfg.repeats,
                                  threads=threads))  # fmt: skip
    results = {"config": asdict(cfg), "threads": threads, "matmul_flops_per_s": matmul_throughput(), "cases": []}
    for case in tqdm(cases, desc="speed", disable=not progress):
        r = _in_fresh_process(case)
        r["variant"] = case.get("variant", "default")
        results["cases"].append(r)
    return results


# ---------------------------------------------------------------------------------------- reporting
def _find(results: dict, scale: str, method: str, variant: str = "default") -> dict | None:
    return next(
        (c for c in results["cases"] if (c["scale"], c["method"], c["variant"]) == (scale, method, variant)), None
    )


def speed_section(results: dict, command: str = "") -> str:
    peak = results["matmul_flops_per_s"]
    lines = [
        f"Reproduce: `{command}`" if command else "",
        "",
        f"{results['threads']} CPU threads; measured fp32 matmul throughput {peak / 1e9:.1f} GFLOP/s (the 'peak' below). "
        "One step = one classifier-free-guidance batch (2 videos) through the denoiser; median of "
        f"{results['config']['repeats']} after a warm-up. A clip = the whole pipeline with "
        f"{results['config']['clip_steps']} steps. Each row runs in a fresh process (peak RSS is its own).",
        "",
        "| scale | method | denoiser params | added params | s / step (frames×px) | s / clip | peak RSS MiB | "
        "GFLOP / step | fraction of peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scale in results["config"]["scales"]:
        for method in ("dsdn", "animatediff"):
            c = _find(results, scale, method)
            if c is None:
                continue
            first, t = next(iter(c["seconds_per_step"].items()))
            frac = c["flops_per_step"] / t / peak
            steps = ", ".join(f"{v:.3f} ({k})" for k, v in c["seconds_per_step"].items())
            lines.append(
                f"| {scale} | {'DSDN' if method == 'dsdn' else 'AnimateDiff'} | {c['denoiser_params'] / 1e6:.2f} M | "
                f"{c['added_params'] / 1e6:.2f} M | {steps} | {c['seconds_per_clip']:.2f} | {c['peak_rss_mib']:.0f} | "
                f"{c['flops_per_step'] / 1e9:.1f} | {frac:.1%} |"
            )
    lines += ["", "**DSDN / AnimateDiff time ratios** (same run; < 1 means DSDN is faster):", ""]
    for scale in results["config"]["scales"]:
        d, a = _find(results, scale, "dsdn"), _find(results, scale, "animatediff")
        if d and a:
            per = ", ".join(
                f"{k}: {d['seconds_per_step'][k] / a['seconds_per_step'][k]:.2f}" for k in d["seconds_per_step"]
            )
            lines.append(f"* {scale}: per step {per}; per clip {d['seconds_per_clip'] / a['seconds_per_clip']:.2f}; "
                         f"added parameters {d['added_params'] / a['added_params']:.2f}.")  # fmt: skip
    d = _find(results, "tiny", "dsdn")
    if d:
        key = next(iter(d["seconds_per_step"]))
        lines += ["", f"**DSDN sampling choices** (tiny, {key}, s / step; ratio = alternative / what dsdn does):", ""]
        for variant, label in (("cfg-two-calls", "guidance as two calls instead of one batched call"),
                               ("classic-attention", "diffusers' classic attention instead of PyTorch SDPA"),
                               ("bf16", "bfloat16 weights instead of float32")):  # fmt: skip
            v = _find(results, "tiny", "dsdn", variant)
            if v:
                t = v["seconds_per_step"][key]
                lines.append(
                    f"* {label}: {t:.3f} s vs {d['seconds_per_step'][key]:.3f} s (ratio {t / d['seconds_per_step'][key]:.2f})."
                )
    return "\n".join(lines + cache_lines(results)).strip("\n")


def cache_lines(results: dict) -> list[str]:
    """The step cache's rows: a cached step and a clip with the cache against DSDN without it, per scale."""
    cfg = results["config"]
    if "cache_interval" not in cfg:  # figures from before the step cache
        return []
    lines = ["", f"**The step cache** (`--cache-interval {cfg['cache_interval']} --cache-depth {cfg['cache_depth']}`: "
             f"a full step every {cfg['cache_interval']}; speed-up = without / with):", ""]  # fmt: skip
    for scale in cfg["scales"]:
        d, c = _find(results, scale, "dsdn"), _find(results, scale, "dsdn", "cache")
        if d and c:
            key = next(iter(c["seconds_per_step"]))
            full, cached = d["seconds_per_step"][key], c["seconds_per_step"][key]
            frac = c["flops_per_step"] / cached / results["matmul_flops_per_s"]
            lines.append(f"* {scale}, {key}: a cached step {cached:.3f} s vs a full step {full:.3f} s "
                         f"({full / cached:.2f}×; {c['flops_per_step'] / 1e9:.1f} GFLOP, {frac:.1%} of peak); a clip "
                         f"{c['seconds_per_clip']:.2f} s vs {d['seconds_per_clip']:.2f} s "
                         f"({d['seconds_per_clip'] / c['seconds_per_clip']:.2f}×).")  # fmt: skip
    return lines if len(lines) > 3 else []


def write_speed_section(results: dict, path: str | Path, command: str = "") -> Path:
    from .report import replace_marked_section

    return replace_marked_section(path, SPEED_BEGIN, SPEED_END, speed_section(results, command))
