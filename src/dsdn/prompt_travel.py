"""Prompt travel: a prompt per frame range, blended across each change.

``prompt={0: "a red circle bouncing", 32: "a blue circle bouncing"}`` (diffusers' FreeNoise form): prompt *i* holds
from its key frame to the next key, and each change is blended over ``blend`` frames centred on its key (fewer where
two keys are closer than that; ``blend=0`` cuts). Each key prompt is encoded once; every frame's text states are the
blend of its prompts' states, so the content stream reads each frame's own text, and the motion stream's spatial
attention and pooled text do too (both UNets fold frames into the batch). Context windows pass each window its frames'
texts, so travel works on long videos as on short ones.

Object carry and cross-frame attention copy frame 1's object and look into every frame, which would hold the first
prompt's colour over the whole clip: under travel they are off unless the call asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING

from .errors import check_int, invalid

if TYPE_CHECKING:
    import torch

DEFAULT_BLEND = 8  # frames a change is blended over, centred on its key


@dataclass
class PromptTravel:
    """The key frames (rising, the first 0) and the prompt from each, with the blend length in frames."""

    keys: list[int]
    prompts: list[str]
    blend: int = DEFAULT_BLEND

    @classmethod
    def parse(cls, prompt: dict, num_frames: int, blend: int | None = None) -> PromptTravel:
        """Check ``prompt`` ``{frame: text}`` against a clip of ``num_frames``: one-line errors for keys that are not
        whole frames of the clip, that do not start at 0 or do not rise, and for texts that are not strings."""
        check_int("num_frames", num_frames, 2)
        if blend is None:
            blend = min(DEFAULT_BLEND, num_frames)
        check_int("travel_blend", blend, 0, num_frames)
        if not prompt:
            raise invalid("prompt", prompt, "a prompt-travel dict needs at least one {frame: text} entry")
        keys = list(prompt)
        if not all(isinstance(k, Integral) and not isinstance(k, bool) for k in keys):
            raise invalid("prompt", prompt, "its keys must be frame numbers (integers)")
        if keys[0] != 0:
            raise invalid("prompt", prompt, "its first key must be 0 (the prompt of the first frame)")
        if any(b <= a for a, b in zip(keys, keys[1:])):
            raise invalid("prompt", prompt, "its keys must rise (one prompt per frame range, in order)")
        if keys[-1] >= num_frames:
            raise invalid("prompt", prompt, f"its keys must be frames of the clip (below num_frames={num_frames})")
        texts = list(prompt.values())
        if not all(isinstance(t, str) and t.strip() for t in texts):
            raise invalid("prompt", prompt, "each value must be a non-empty text")
        return cls([int(k) for k in keys], texts, int(blend))

    def weights(self, num_frames: int) -> torch.Tensor:
        """``(num_frames, K)``: each frame's share of each key prompt (rows sum to 1)."""
        import torch  # here, so that checking a travel (before any model loads) does not load torch

        frames = torch.arange(num_frames, dtype=torch.float64)
        edges = [*self.keys, num_frames]
        reached = [torch.ones(num_frames, dtype=torch.float64)]  # how far each frame is past change i
        for i in range(1, len(self.keys)):
            b = min(self.blend, edges[i] - edges[i - 1], edges[i + 1] - edges[i])
            if b <= 0:
                reached.append((frames >= self.keys[i]).double())
            else:
                reached.append(((frames - self.keys[i]) / b + 0.5).clamp(0.0, 1.0))
        reached.append(torch.zeros(num_frames, dtype=torch.float64))
        w = torch.stack([reached[i] - reached[i + 1] for i in range(len(self.keys))], dim=1)
        return w.float()

    def frame_states(self, states: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Key prompts' text states ``(K, L, D)`` -> each frame's ``(F, L, D)``."""
        w = self.weights(num_frames).to(states.device, states.dtype)
        return (w[:, :, None, None] * states[None]).sum(1)  # (F, K, 1, 1) · (1, K, L, D), summed over K

    def sampling_defaults(self, carry_from: float | None, cross_frame_attention: bool | None):
        """Object carry and cross-frame attention off unless asked for (they hold frame 1's look)."""
        return (1.0 if carry_from is None else carry_from), (
            False if cross_frame_attention is None else cross_frame_attention
        )


def per_frame_like(text: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``text`` ``(B, L, D)`` repeated over the frames of ``like`` ``(B, F, L, D)``; unchanged when ``like`` is
    per-clip or ``text`` is already per-frame."""
    if like.dim() == 4 and text.dim() == 3:
        return text[:, None].expand(-1, like.shape[1], -1, -1)
    return text


def fold_text(text: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Text states for frames folded into the batch: ``(B, L, D)`` repeated per frame, or ``(B, F, L, D)``
    (per-frame, prompt travel) folded, to ``(B·F, L, D)``."""
    if text.dim() == 4:
        if text.shape[1] != num_frames:
            raise ValueError(f"per-frame text has {text.shape[1]} frames, the clip {num_frames}")
        return text.flatten(0, 1)
    return text.repeat_interleave(num_frames, dim=0)
