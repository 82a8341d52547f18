"""The single-stream peers of the benchmark: their models, how they are saved, and how they load.

Two peers, each a diffusers model trained over the same frozen SD-format base as DSDN
(:mod:`dsdn.training.peers` trains them), so that ``dsdn benchmark quality`` compares methods, not bases:

* ``animatediff``: diffusers' :class:`~diffusers.MotionAdapter` inserted into the frozen base UNet
  (:class:`~diffusers.UNetMotionModel`), sized to be closest to DSDN's trainable parameter count,
  sampled with ``AnimateDiffPipeline``.
* ``unet3d``: one stream, ModelScope's recipe: a :class:`~diffusers.UNet3DConditionModel` with the
  base UNet's levels, inflated from the base weights, with the same parameter-free frame positions as
  DSDN's motion stream; sampled with ``TextToVideoSDPipeline``.

A trained peer is a folder with ``peer.json`` (kind, steps, wall time, parameters, base fingerprint)
and its weights as safetensors (``motion_adapter/`` or ``unet3d/``).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch

from .errors import DSDNInputError

logger = logging.getLogger(__name__)

PEER_KINDS = ("animatediff", "unet3d")
PEER_FILE = "peer.json"
#: Frame positions given to the ``unet3d`` peer's temporal transformers (as DSDN's motion stream).
FRAME_POSITIONS = 32


def default_base() -> str:
    from .generate import default_model_dir

    return str(default_model_dir() / "base")


def unet3d_from_base(unet2d) -> torch.nn.Module:
    """The ``unet3d`` peer: a UNet3DConditionModel with the base's levels, inflated from its weights."""
    from diffusers import UNet3DConditionModel

    from .adapter import add_frame_positions
    from .motion_stream import inflate_from_content, motion_unet_config

    heads = unet2d.config.attention_head_dim
    model = UNet3DConditionModel(
        **motion_unet_config(unet2d.config, num_heads=heads if isinstance(heads, int) else heads[0])
    )
    inflate_from_content(model, unet2d)
    add_frame_positions(model, FRAME_POSITIONS)
    return model


def dsdn_trainable_parameters(base_unet) -> int:
    """DSDN's trainable parameter count for this base: the tiny preset's adapter plus its content LoRA."""
    from .content_stream import ContentStream
    from .denoiser import DualStreamDenoiser
    from .presets import get_preset

    adapter = get_preset("tiny").build(base_unet, motion_scale=1.0)
    unet = type(base_unet).from_config(base_unet.config)
    content = ContentStream(unet, lora_rank=adapter.config.lora_rank, lora_targets=adapter.config.lora_target_modules)
    denoiser = DualStreamDenoiser.from_adapter(content, adapter)
    return sum(p.numel() for _, p in denoiser.trainable_parameters())


def motion_adapter_config(unet_config, target_params: int) -> dict:
    """MotionAdapter settings for ``unet_config`` whose parameter count is closest to ``target_params``
    (transformer layers per motion module are varied; the number of modules is fixed by the UNet)."""
    import torch
    from diffusers import MotionAdapter

    best = None
    for tlayers in (1, 2, 3, 4, 6, 8):
        cfg = dict(
            # UNetMotionModel.from_unet2d needs one motion module per resnet: the layer count is the UNet's.
            block_out_channels=tuple(unet_config.block_out_channels), motion_layers_per_block=unet_config.layers_per_block,
            motion_transformer_layers_per_block=tlayers, motion_transformer_layers_per_mid_block=tlayers,
            motion_num_attention_heads=8 if unet_config.block_out_channels[0] >= 128 else 4,
            motion_norm_num_groups=unet_config.norm_num_groups, motion_max_seq_length=32,
        )  # fmt: skip
        with torch.device("meta"):
            err = abs(math.log(sum(p.numel() for p in MotionAdapter(**cfg).parameters()) / target_params))
        if best is None or err < best[0]:
            best = (err, cfg)
    return best[1]


def build_peer(kind: str, base_unet):
    """``(model to train, its trainable parameters, the MotionAdapter or None)`` for a fresh run."""
    if kind == "unet3d":
        model = unet3d_from_base(base_unet)
        return model, [p for p in model.parameters()], None
    from diffusers import MotionAdapter, UNetMotionModel

    adapter = MotionAdapter(**motion_adapter_config(base_unet.config, dsdn_trainable_parameters(base_unet)))
    model = UNetMotionModel.from_unet2d(base_unet, adapter)
    model.freeze_unet2d_params()
    return model, [p for p in model.parameters() if p.requires_grad], adapter


def read_dsdn_run(model_dir: str | Path) -> dict | None:
    """How a DSDN model trained by ``dsdn train video`` was trained (steps, seconds, trainable
    parameters, from the ``run.json`` and ``metrics.jsonl`` beside ``model_dir``), or None."""
    run = Path(model_dir).parent
    try:
        info = json.loads((run / "run.json").read_text())
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError):
        return None
    last = next((r for r in reversed(records) if "time_s" in r), None)
    params = info.get("resolved", {}).get("trainable_parameters")
    if last is None or params is None:
        return None
    return {"kind": "dsdn", "steps": last["step"], "train_seconds": last["time_s"], "trainable_parameters": params}


def read_peer(model_dir: str | Path) -> dict:
    """The ``peer.json`` of a trained peer folder (clear error when it is not one)."""
    path = Path(model_dir) / PEER_FILE
    if not path.is_file():
        raise DSDNInputError(
            f"{str(model_dir)!r} is not a trained peer (no {PEER_FILE}): train it with `dsdn train peer`."
        )
    try:
        info = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DSDNInputError(f"{path} is unreadable ({e}): train the peer again with `dsdn train peer`.") from e
    if info.get("kind") not in PEER_KINDS:
        raise DSDNInputError(f"{path} names kind {info.get('kind')!r}; expected one of {', '.join(PEER_KINDS)}.")
    return info


def check_peer_base(model_dir: str | Path, base_path: str | Path) -> None:
    """Refuse a peer trained on another base than ``base_path``: its weights learnt that base's latents and
    text features, and over another base it makes noise, not a fair row of a benchmark."""
    from .loading import base_fingerprint

    trained_on = read_peer(model_dir).get("base_fingerprint")
    if trained_on is None:  # (peers trained before the fingerprint was recorded)
        logger.warning("%s records no base fingerprint: cannot check that it was trained on %s", model_dir, base_path)
    elif trained_on != (here := base_fingerprint(base_path)):
        raise DSDNInputError(
            f"the peer in {str(model_dir)!r} was trained on another base (weights fingerprint {trained_on}) than "
            f"{str(base_path)!r} ({here}): train it again on this base (delete its folder, "
            "and the benchmark trains it with train_steps), or give the method the base it was trained on (base:)."
        )


def peer_pipeline(model_dir: str | Path, base: dict):
    """The diffusers pipeline of a trained peer over ``base`` (components as from ``load_base``)."""
    from diffusers import DDIMScheduler

    info = read_peer(model_dir)
    model_dir = Path(model_dir)
    parts = dict(vae=base["vae"], text_encoder=base["text_encoder"], tokenizer=base["tokenizer"],
                 scheduler=DDIMScheduler.from_config(base["scheduler"].config))  # fmt: skip
    if info["kind"] == "animatediff":
        from diffusers import AnimateDiffPipeline, MotionAdapter, UNetMotionModel

        adapter = MotionAdapter.from_pretrained(model_dir / "motion_adapter", use_safetensors=True)
        unet = UNetMotionModel.from_unet2d(base["unet"], adapter)
        return AnimateDiffPipeline(unet=unet.eval(), motion_adapter=adapter, **parts)
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel
    from safetensors.torch import load_file

    from .adapter import add_frame_positions

    folder = model_dir / "unet3d"
    unet = UNet3DConditionModel.from_config(UNet3DConditionModel.load_config(folder))
    if info.get("frame_positions"):  # parameter-free buffers, saved with the weights: add them before loading
        add_frame_positions(unet, int(info["frame_positions"]))
    unet.load_state_dict(load_file(folder / "diffusion_pytorch_model.safetensors"))
    return TextToVideoSDPipeline(unet=unet.eval(), **parts)
