"""Speed on an accelerator: DSDN against diffusers' AnimateDiffPipeline at matched added parameters, and one DSDN
training step — the figures a user needs to plan sampling and training.

    python scripts/gpu_speed.py --device cuda --dtype fp16 --frames 16 --size 512 [--scale sd15] [--steps 25]
                                [--train-batch 1] [--json gpu_speed.json]

At ``--scale sd15`` both pipelines are SD-1.5-shaped with random weights (built offline, as ``dsdn benchmark speed``
builds them); ``tiny`` is the shipped model (a quick check on a CPU). PyTorch's SDPA attention (the default). For each
method: seconds per CFG denoising step (median of ``--repeats`` after a warm-up, the device synchronised), seconds per
clip (``--steps`` DDIM steps, text encoding and VAE decode included), and the peak device memory of each. Then one
DSDN training step (the joint loss, backward, AdamW on the trainable parameters) with gradient checkpointing on both
UNets: clips per second and peak memory. Every figure is measured side by side in one process; a part that fails
records its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial


def main() -> None:
    import torch

    from dsdn.evaluation.speed import animatediff_pipeline, speed_pipeline
    from dsdn.objective import dsdn_loss
    from dsdn.unet_levels import checkpoint_blocks

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", choices=("fp16", "bf16", "fp32"), default="fp16")
    ap.add_argument("--scale", choices=("sd15", "tiny"), default="sd15")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=25, help="denoising steps of the timed clip")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-batch", type=int, default=1, help="clips per training step (0: no training figure)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def timed(fn, repeats):
        fn()
        sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return sorted(times)[len(times) // 2]

    def peak_reset():
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)

    def peak_gib():
        return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if cuda else None

    out = {"device": torch.cuda.get_device_name(device) if cuda else str(device), "dtype": args.dtype,
           "scale": args.scale, "frames": args.frames, "size": args.size, "steps": args.steps,
           "torch": torch.__version__, "methods": {}}  # fmt: skip
    t0 = time.perf_counter()
    dsdn = speed_pipeline(args.scale)
    added = sum(p.numel() for _, p in dsdn.denoiser().trainable_parameters())
    animatediff = animatediff_pipeline(dsdn, added)
    out["build_seconds"] = round(time.perf_counter() - t0, 1)
    out["dsdn_added_params"] = added
    prompt = "a red circle moving right"
    for name, pipe in (("DSDN", dsdn), ("AnimateDiffPipeline", animatediff)):
        row = out["methods"][name] = {}
        try:
            pipe.to(device=device, dtype=dtype)
            pipe.set_progress_bar_config(disable=True)
            with torch.inference_mode():
                h = args.size // pipe.vae_scale_factor
                lat = torch.randn(2, pipe.unet.config.in_channels, args.frames, h, h, device=device, dtype=dtype)
                text = torch.randn(2, pipe.tokenizer.model_max_length, pipe.text_encoder.config.hidden_size,
                                   device=device, dtype=dtype)  # fmt: skip
                t = torch.tensor([500, 500], device=device)
                if name == "DSDN":  # one step with classifier-free guidance: both halves in one batch
                    denoiser = pipe.denoiser()
                    fn = partial(denoiser, lat, lat, t, text)
                else:  # UNetMotionModel takes one text per frame
                    fn = partial(pipe.unet, lat, t, encoder_hidden_states=text.repeat_interleave(args.frames, dim=0))
                peak_reset()
                row["seconds_per_step"] = round(timed(fn, args.repeats), 4)
                row["step_peak_gib"] = peak_gib()
                kw = dict(num_frames=args.frames, height=args.size, width=args.size, num_inference_steps=args.steps,
                          guidance_scale=7.5, output_type="np",
                          generator=torch.Generator(device).manual_seed(0))  # fmt: skip
                if name == "DSDN":
                    kw.update(stream_sync=0.0, carry_from=1.0, early_until=0.0)  # plain joint sampling
                peak_reset()
                row["seconds_per_clip"] = round(timed(partial(pipe, prompt, **kw), 1), 3)
                row["clip_peak_gib"] = peak_gib()
        except Exception as e:  # noqa: BLE001 - a failing part is recorded and the others still run
            row["error"] = f"{type(e).__name__}: {e}"[:500]
        pipe.to("cpu")
        if cuda:
            torch.cuda.empty_cache()
        print(name, row, flush=True)
    if args.train_batch:
        row = out["training"] = {"batch": args.train_batch, "gradient_checkpointing": True}
        try:
            from diffusers import DDPMScheduler

            dsdn.to(device=device)  # trainable parts in fp32, the frozen base in the chosen dtype (mixed precision)
            dsdn.unet.to(dtype)
            dsdn.vae.to(dtype)
            dsdn.text_encoder.to(dtype)
            checkpoint_blocks(dsdn.unet)
            checkpoint_blocks(dsdn.adapter.motion_unet)
            denoiser = dsdn.denoiser()
            params = [p for _, p in denoiser.trainable_parameters()]
            for p in params:
                p.data = p.data.float()
                p.requires_grad_(True)
            opt = torch.optim.AdamW(params, lr=1e-4)
            scheduler = DDPMScheduler.from_config(dsdn.scheduler.config)
            f, h = args.frames, args.size // dsdn.vae_scale_factor
            c = dsdn.unet.config.in_channels
            dim = dsdn.text_encoder.config.hidden_size
            length = dsdn.tokenizer.model_max_length
            latents = torch.randn(args.train_batch, c, f, h, h, device=device)
            text = torch.randn(args.train_batch, length, dim, device=device)
            null = torch.zeros(1, length, dim, device=device)

            def train_step():
                with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                    loss = dsdn_loss(denoiser, latents, text, null, scheduler, dsdn.adapter.config.motion_scale).loss
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

            peak_reset()
            seconds = timed(train_step, max(1, args.repeats // 2))
            row["seconds_per_step"] = round(seconds, 4)
            row["clips_per_second"] = round(args.train_batch / seconds, 3)
            row["peak_gib"] = peak_gib()
            row["trainable_params"] = sum(p.numel() for p in params)
        except Exception as e:  # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {e}"[:500]
        print("training", row, flush=True)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
