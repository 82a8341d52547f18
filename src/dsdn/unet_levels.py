"""The one place that leans on diffusers/peft internals.

DSDN runs two UNets *in lockstep*, level by level, with an exchange between them after every
level (the paper's dual-stream design). diffusers' UNets only expose a monolithic ``forward``, so the classes
below replay those ``forward`` methods one level at a time, using the models' own sub-modules
(``conv_in``, ``down_blocks``, ``mid_block``, ``up_blocks``, ...). The replay follows
diffusers 0.42's ``UNet2DConditionModel.forward`` and ``UNet3DConditionModel.forward`` for the
features SD-1.x style models use (no class labels, ControlNet residuals or GLIGEN). A test
compares each replay with the model's own ``forward`` bit for bit, so a diffusers upgrade that
changes the forward shows up as one failing test here, not as silent drift.

Also here: setting the scale of one named PEFT LoRA adapter (the paper's step length λ).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers import UNet2DConditionModel, UNet3DConditionModel

from .prompt_travel import fold_text

CHECKPOINT_ATTR = "dsdn_checkpoint_blocks"


def checkpoint_blocks(unet: torch.nn.Module, enabled: bool = True) -> None:
    """Gradient checkpointing of ``unet``'s down, mid and up blocks as DSDN replays them level by level: in training,
    each block's activations are recomputed in the backward pass instead of kept. It works for both streams' UNets
    (diffusers' ``UNet3DConditionModel`` has no gradient checkpointing of its own)."""
    setattr(unet, CHECKPOINT_ATTR, bool(enabled))


class _UNetLevels:
    """Shared bookkeeping: skip connections, current hidden state, up-sampling sizes.

    Usage (per denoiser call)::

        run = Levels(unet, ...)           # time embedding + conv_in
        h = run.down(i); run.h = f(h)     # for i in range(run.num_down)
        h = run.mid();   run.h = f(h)
        h = run.up(i);   run.h = f(h)     # for i in range(run.num_up)
        out = run.finish()

    Writing ``run.h`` after a down level also replaces that level's last skip connection: in
    diffusers every down block returns its output as the last element of its skip tuple, so the
    exchanged state flows both down the UNet and across to the decoder.
    """

    unet: torch.nn.Module
    block_kwargs: dict

    def _init_common(self, sample: torch.Tensor) -> None:
        factor = 2**self.unet.num_upsamplers
        self.forward_upsample_size = any(s % factor != 0 for s in sample.shape[-2:])
        self.h = self.unet.conv_in(sample)
        self.res: tuple[torch.Tensor, ...] = (self.h,)
        self._last_down = -1

    @property
    def num_down(self) -> int:
        return len(self.unet.down_blocks)

    @property
    def num_up(self) -> int:
        return len(self.unet.up_blocks)

    def _extra(self, block: torch.nn.Module) -> dict:
        return self.block_kwargs if getattr(block, "has_cross_attention", False) else {}

    def _base_kwargs(self) -> dict:
        return {}

    def _run(self, block: torch.nn.Module, *args, **kwargs):
        if getattr(self.unet, CHECKPOINT_ATTR, False) and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(block, *args, use_reentrant=False, **kwargs)
        return block(*args, **kwargs)

    def down(self, i: int) -> torch.Tensor:
        self._commit_down()
        block = self.unet.down_blocks[i]
        self.h, res = self._run(block, hidden_states=self.h, temb=self.emb, **self._base_kwargs(), **self._extra(block))
        self.res += res
        self._last_down = len(self.res) - 1
        return self.h

    def _commit_down(self) -> None:
        # Put the (possibly exchanged) output of the previous down level back into the skip list.
        if self._last_down >= 0:
            res = list(self.res)
            res[self._last_down] = self.h
            self.res = tuple(res)
            self._last_down = -1

    def mid(self) -> torch.Tensor:
        self._commit_down()
        block = self.unet.mid_block
        if block is None:
            return self.h
        if getattr(block, "has_cross_attention", False):
            self.h = self._run(block, self.h, self.emb, **self._base_kwargs(), **self.block_kwargs)
        else:
            self.h = self._run(block, self.h, self.emb, **self._base_kwargs())
        return self.h

    def resume_up(self, i: int, h: torch.Tensor) -> None:
        """Continue at up level ``i`` from ``h`` (a step cache's deep features), after only the down levels whose
        skip connections up levels ``i``… read have run: the skips the skipped levels would have read are dropped."""
        self._commit_down()
        needed = sum(len(self.unet.up_blocks[j].resnets) for j in range(i, self.num_up))
        if needed > len(self.res):
            raise ValueError(f"up level {i} needs {needed} skip connections; only {len(self.res)} were made")
        self.res, self.h = self.res[:needed], h

    def up(self, i: int) -> torch.Tensor:
        block = self.unet.up_blocks[i]
        n = len(block.resnets)
        res, self.res = self.res[-n:], self.res[:-n]
        upsample_size = None
        if i != self.num_up - 1 and self.forward_upsample_size:
            upsample_size = self.res[-1].shape[2:]
        self.h = self._run(
            block,
            hidden_states=self.h,
            temb=self.emb,
            res_hidden_states_tuple=res,
            upsample_size=upsample_size,
            **self._base_kwargs(),
            **self._extra(block),
        )
        return self.h

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        if self.unet.conv_norm_out is not None:
            h = self.unet.conv_act(self.unet.conv_norm_out(h))
        return self.unet.conv_out(h)


class UNet2DLevels(_UNetLevels):
    """Level-by-level replay of ``UNet2DConditionModel.forward`` on frames folded into the batch.

    Args:
        sample: ``(N, C, h, w)`` with ``N = B·F``.
        timestep: ``(N,)`` timesteps.
        encoder_hidden_states: ``(N, L, D)``.
        cross_attention_kwargs: passed to the attention processors of the blocks with cross-attention,
            as ``UNet2DConditionModel.forward`` passes them (``None``: none).
    """

    def __init__(
        self, unet: UNet2DConditionModel, sample, timestep, encoder_hidden_states, cross_attention_kwargs=None
    ):
        cfg = unet.config
        if cfg.class_embed_type is not None or cfg.addition_embed_type not in (None, "text"):
            raise NotImplementedError("content UNets with class or non-text addition embeddings are not supported")
        if cfg.center_input_sample:
            sample = 2 * sample - 1.0
        self.unet = unet
        t_emb = unet.get_time_embed(sample=sample, timestep=timestep)
        emb = unet.time_embedding(t_emb, None)
        # addition_embed_type="text": the attention-pooled caption added to the timestep embedding (None otherwise)
        aug = unet.get_aug_embed(emb=emb, encoder_hidden_states=encoder_hidden_states, added_cond_kwargs={})
        if aug is not None:
            emb = emb + aug
        if unet.time_embed_act is not None:
            emb = unet.time_embed_act(emb)
        self.emb = emb
        ehs = unet.process_encoder_hidden_states(encoder_hidden_states=encoder_hidden_states, added_cond_kwargs=None)
        self.block_kwargs = {"encoder_hidden_states": ehs}
        if cross_attention_kwargs:
            self.block_kwargs["cross_attention_kwargs"] = dict(cross_attention_kwargs)
        self._init_common(sample)

    def finish(self) -> torch.Tensor:
        return self._head(self.h)


class UNet3DLevels(_UNetLevels):
    """Level-by-level replay of ``UNet3DConditionModel.forward``.

    Args:
        sample: ``(B, C, F, h, w)``.
        timestep: ``(B,)`` timesteps, one per clip.
        encoder_hidden_states: ``(B, L, D)``, one per clip (repeated per frame inside), or ``(B, F, L, D)``, one
            per frame (prompt travel).
        added_emb: ``(B, D_t)`` (or ``(B·F, D_t)``) added to the timestep embedding (the motion stream's pooled
            text), or ``None``.

    Hidden states between levels are ``(B·F, C, h, w)`` (frames folded into the batch).
    """

    def __init__(self, unet: UNet3DConditionModel, sample, timestep, encoder_hidden_states, added_emb=None):
        self.unet = unet
        b, _, f = sample.shape[:3]
        self.num_frames = f
        timesteps = torch.as_tensor(timestep, device=sample.device)
        if timesteps.ndim == 0:
            timesteps = timesteps[None]
        t_emb = unet.time_proj(timesteps.expand(b)).to(dtype=unet.dtype)
        emb = unet.time_embedding(t_emb, None).repeat_interleave(f, dim=0)  # (B·F, D_t)
        if added_emb is not None:  # per clip, or per frame (prompt travel)
            added = added_emb.to(emb.dtype)
            emb = emb + (added if added.shape[0] == b * f else added.repeat_interleave(f, dim=0))
        self.emb = emb
        ehs = fold_text(encoder_hidden_states, f)  # (B·F, L, D)
        self.block_kwargs = {"encoder_hidden_states": ehs}
        # (B, C, F, h, w) -> (B·F, C, h, w)
        sample = sample.permute(0, 2, 1, 3, 4).reshape((b * f, -1) + sample.shape[3:])
        self._init_common(sample)
        self.h = unet.transformer_in(self.h, num_frames=f, return_dict=False)[0]
        self.res = (self.h,)

    def _base_kwargs(self) -> dict:
        return {"num_frames": self.num_frames}

    def finish(self) -> torch.Tensor:
        out = self._head(self.h)  # (B·F, C, h, w)
        f = self.num_frames
        return out.reshape((-1, f) + out.shape[1:]).permute(0, 2, 1, 3, 4)  # (B, C, F, h, w)


@contextmanager
def lora_adapter_scale(model: torch.nn.Module, adapter_name: str, scale: float) -> Iterator[None]:
    """Temporarily multiply one PEFT LoRA adapter's effect by ``scale`` (other adapters untouched)."""
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer) and adapter_name in m.scaling]
    for layer in layers:
        layer.set_scale(adapter_name, float(scale))
    try:
        yield
    finally:
        for layer in layers:
            layer.set_scale(adapter_name, 1.0)
