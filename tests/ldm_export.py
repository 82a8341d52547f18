"""Test helper: write a diffusers SD pipeline as an *original-layout* single-file checkpoint
(``model.diffusion_model.*``, ``first_stage_model.*``, ``cond_stage_model.transformer.*``), the
inverse of diffusers' ``from_single_file`` conversion, so single-file loading is tested offline."""

from __future__ import annotations

from diffusers.loaders.single_file_utils import DIFFUSERS_TO_LDM_MAPPING
from safetensors.torch import save_file

_RESNET = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"), ("conv2", "out_layers.3"),
           ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]  # fmt: skip


def _resnet(rest: str) -> str:
    for new, old in _RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    raise KeyError(rest)


def unet_to_ldm(sd: dict, config) -> dict:
    lpb = config.layers_per_block
    direct = {d: name for d, name in DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"].items()}
    has_attn = {i: "CrossAttn" in t for i, t in enumerate(config.up_block_types)}
    out = {}
    for k, v in sd.items():
        if k in direct:
            out[direct[k]] = v
            continue
        p = k.split(".")
        if p[0] == "down_blocks":
            i, kind = int(p[1]), p[2]
            rest = ".".join(p[4:])
            if kind == "resnets":
                new = f"input_blocks.{(lpb + 1) * i + int(p[3]) + 1}.0.{_resnet(rest)}"
            elif kind == "attentions":
                new = f"input_blocks.{(lpb + 1) * i + int(p[3]) + 1}.1.{rest}"
            else:  # downsamplers.0.conv.*
                new = f"input_blocks.{(lpb + 1) * (i + 1)}.0.op.{'.'.join(p[5:])}"
        elif p[0] == "mid_block":
            rest = ".".join(p[3:])
            new = f"middle_block.{2 * int(p[2])}.{_resnet(rest)}" if p[1] == "resnets" else f"middle_block.1.{rest}"
        elif p[0] == "up_blocks":
            i, kind = int(p[1]), p[2]
            rest = ".".join(p[4:])
            if kind == "resnets":
                new = f"output_blocks.{(lpb + 1) * i + int(p[3])}.0.{_resnet(rest)}"
            elif kind == "attentions":
                new = f"output_blocks.{(lpb + 1) * i + int(p[3])}.1.{rest}"
            else:  # upsamplers.0.conv.*
                new = f"output_blocks.{(lpb + 1) * i + lpb}.{2 if has_attn[i] else 1}.{'.'.join(p[4:])}"
        else:
            raise KeyError(k)
        out[new] = v
    return {"model.diffusion_model." + k: v for k, v in out.items()}


def vae_to_ldm(sd: dict, config) -> dict:
    n = len(config.block_out_channels)
    direct = {d: name for d, name in DIFFUSERS_TO_LDM_MAPPING["vae"].items()}
    attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    out = {}
    for k, v in sd.items():
        if k in direct:
            out[direct[k]] = v
            continue
        side, p = k.split(".", 1)
        p = p.replace("conv_shortcut", "nin_shortcut")
        q = p.split(".")
        if q[0] == "down_blocks" and q[2] == "resnets":
            new = f"down.{q[1]}.block.{'.'.join(q[3:])}"
        elif q[0] == "down_blocks":
            new = f"down.{q[1]}.downsample.{'.'.join(q[4:])}"
        elif q[0] == "up_blocks" and q[2] == "resnets":
            new = f"up.{n - 1 - int(q[1])}.block.{'.'.join(q[3:])}"
        elif q[0] == "up_blocks":
            new = f"up.{n - 1 - int(q[1])}.upsample.{'.'.join(q[4:])}"
        elif q[1] == "resnets":
            new = f"mid.block_{int(q[2]) + 1}.{'.'.join(q[3:])}"
        else:  # mid_block.attentions.0.<name>.<param>
            name, param = ".".join(q[3:-1]), q[-1]
            new = f"mid.attn_1.{attn[name]}.{param}"
            if v.ndim == 2:
                v = v[:, :, None, None]  # the original stores attention projections as 1x1 convs
        out[f"{side}.{new}"] = v
    return {"first_stage_model." + k: v for k, v in out.items()}


def save_single_file(pipe, path) -> None:
    """Write ``pipe``'s UNet, VAE and text encoder as one original-layout safetensors file."""
    sd = {}
    sd.update(unet_to_ldm(pipe.unet.state_dict(), pipe.unet.config))
    sd.update(vae_to_ldm(pipe.vae.state_dict(), pipe.vae.config))
    # Original checkpoints nest CLIP under text_model. (transformers >= 5.6 flattened CLIPTextModel).
    te = {k if k.startswith("text_model.") else "text_model." + k: v for k, v in pipe.text_encoder.state_dict().items()}
    sd.update({"cond_stage_model.transformer." + k: v for k, v in te.items()})
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
