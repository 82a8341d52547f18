"""Fine-tune only a base's VAE decoder, its encoder frozen: the latents, and so the UNet and every DSDN model on the
base, stay as they are; only how latents become pixels changes (as Stable Diffusion's ft-MSE decoder was made).

    python research/decoder_finetune.py --base BASE --out VAE_FOLDER [--steps 1000] [--object-weight 4] [--lr 1e-4]

Each step encodes 16 toy-world frames with the frozen encoder, draws a latent from its posterior and decodes it;
the loss is L1 + MSE, with the pixels of an object colour weighted ``1 + --object-weight`` (the inside of a solid
shape is a small share of a frame: at weight 0 its dimples cost little). Writes the VAE with
``AutoencoderKL.save_pretrained`` to ``--out``; put it in a copy of the base as ``vae/`` to use it. Measure it with
``research/mark_levels.py --vae VAE_FOLDER``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch


def main() -> None:
    import torch.nn.functional as F  # noqa: N812
    from diffusers import AutoencoderKL

    from dsdn.data.toy_world import COLOURS, ToyWorld
    from dsdn.training.base import random_frames

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True, help="SD-format base folder whose vae/ is fine-tuned")
    ap.add_argument("--out", required=True, help="folder for the fine-tuned VAE")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16, help="frames per step")
    ap.add_argument("--lr", type=float, default=1e-4, help="peak learning rate (50 warm-up steps, cosine decay)")
    ap.add_argument("--object-weight", type=float, default=4.0, help="extra weight of object-coloured pixels")
    ap.add_argument("--toy-world", default="v3")
    ap.add_argument("--shape-share", type=float, default=0.5, help="share of frames showing a solid shape")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    vae = AutoencoderKL.from_pretrained(args.base, subfolder="vae")
    vae.requires_grad_(False)
    params = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    for p in params:
        p.requires_grad_(True)
    world = ToyWorld("train", version=args.toy_world, seed=args.seed + 5, shape_share=args.shape_share)
    rng, gen = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    ref = torch.tensor(list(COLOURS.values()), dtype=torch.float32) / 127.5 - 1  # (5, 3)
    t0 = time.time()
    for step in range(args.steps):
        x, _ = random_frames(world, rng, args.batch)
        with torch.no_grad():
            post = vae.encode(x).latent_dist
            z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)
        rec = vae.decode(z).sample
        near = ((x[:, None] - ref[None, :, :, None, None]) ** 2).sum(2).min(1, keepdim=True).values  # (B, 1, H, W)
        weight = 1 + args.object_weight * (near < 0.01).float()  # within ~13 levels of an object colour
        loss = (weight * F.l1_loss(rec, x, reduction="none")).mean() + (weight * (rec - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        opt.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step}  loss {loss.item():.4f}  {time.time() - t0:.0f} s", flush=True)
    vae.eval().save_pretrained(args.out)
    print(f"saved {args.out} after {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
