"""Named DSDN adapter presets (``tiny``, ``sd15``) as typed, validated dataclasses, loadable from YAML.

A preset says how big the trained parts are relative to a given content base: motion-stream
widths, heads, LoRA rank, interaction settings and the default motion coherence γ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import DSDNInputError, check_float, check_int


@dataclass(frozen=True)
class AdapterPreset:
    """How to build a :class:`~dsdn.adapter.DSDNAdapter` for a base UNet.

    Args:
        motion_channels: motion-stream width per level (``None``: the content widths).
        motion_num_heads: attention heads in the motion stream.
        motion_layers_per_block: resnets per motion level (``None``: the content UNet's).
        lora_rank: rank of the content increment.
        interaction_head_dim: head width of the cross-stream attention.
        interaction_window: temporal half-window of the cross-stream attention.
        interaction_locality: initial σ (fraction of the frame side) of the cross-stream attention's
            learned position bias; 0 = plain cross-attention (see :mod:`dsdn.interaction`).
        motion_coherence: default γ.
        inflate: copy matching spatial weights from the base into the motion stream.
        inflate_cross_attention: with ``inflate``, copy the text cross-attention too (``False``:
            the motion stream learns its own, starting fresh).
        motion_top_attention: keep the motion stream's transformers at the highest resolution.
        motion_pooled_text: give the motion stream a pooled text embedding besides its
            cross-attention (see :class:`~dsdn.motion_stream.MotionTextEmbedding`).
    """

    motion_channels: tuple[int, ...] | None = None
    motion_num_heads: int = 4
    motion_layers_per_block: int | None = None
    lora_rank: int = 4
    interaction_head_dim: int = 32
    interaction_window: int = 0
    interaction_locality: float = 0.125
    motion_coherence: float = 0.5
    inflate: bool = True
    inflate_cross_attention: bool = True
    motion_top_attention: bool = True
    motion_pooled_text: bool = False

    def __post_init__(self):
        if self.motion_channels is not None:
            object.__setattr__(self, "motion_channels", tuple(self.motion_channels))
            for c in self.motion_channels:
                check_int("motion_channels", c, 1)
        check_int("motion_num_heads", self.motion_num_heads, 1)
        if self.motion_layers_per_block is not None:
            check_int("motion_layers_per_block", self.motion_layers_per_block, 1)
        check_int("lora_rank", self.lora_rank, 0)
        check_int("interaction_head_dim", self.interaction_head_dim, 1)
        check_int("interaction_window", self.interaction_window, 0)
        check_float("interaction_locality", self.interaction_locality, 0.0)
        check_float("motion_coherence", self.motion_coherence, 0.0, 1.0)

    @classmethod
    def from_dict(cls, data: dict) -> AdapterPreset:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DSDNInputError(f"unknown preset keys {unknown}: allowed are {sorted(known)}.")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> AdapterPreset:
        import yaml

        path = Path(path).expanduser()
        if not path.is_file():
            raise DSDNInputError(f"preset={str(path)!r} is invalid: no such file; give tiny, sd15 or a YAML file.")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            first = (str(e).strip().splitlines() or [""])[0]
            raise DSDNInputError(f"preset={str(path)!r} is not valid YAML ({first}).") from None
        if not isinstance(data, dict):
            raise DSDNInputError(f"{path}: expected a mapping of preset keys, got {type(data).__name__}.")
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        return asdict(self)

    def build(self, unet, motion_scale: float = 1.0):
        """A fresh :class:`~dsdn.adapter.DSDNAdapter` for the content base ``unet``."""
        from .adapter import DSDNAdapter

        return DSDNAdapter.for_base(
            unet,
            motion_channels=self.motion_channels,
            motion_layers_per_block=self.motion_layers_per_block,
            motion_num_heads=self.motion_num_heads,
            inflate=self.inflate,
            inflate_cross_attention=self.inflate_cross_attention,
            motion_top_attention=self.motion_top_attention,
            interaction_head_dim=self.interaction_head_dim,
            interaction_window=self.interaction_window,
            interaction_locality=self.interaction_locality,
            lora_rank=self.lora_rank,
            motion_scale=motion_scale,
            motion_coherence=self.motion_coherence,
            motion_pooled_text=self.motion_pooled_text,
        )


PRESETS: dict[str, AdapterPreset] = {
    # Same widths as the tiny base, inflated from it, no motion transformers at the 16x16 level:
    # cheap enough to train on a CPU.
    "tiny": AdapterPreset(
        motion_num_heads=4, lora_rank=4, interaction_head_dim=32, inflate=True, motion_top_attention=False
    ),
    # SD-1.x: a motion stream at 0.4x the content widths (one resnet per level), rank-16 LoRA.
    "sd15": AdapterPreset(
        motion_channels=(128, 256, 512, 512),
        motion_num_heads=8,
        motion_layers_per_block=1,
        lora_rank=16,
        interaction_head_dim=64,
        inflate=False,
    ),  # fmt: skip
}


def get_preset(name: str) -> AdapterPreset:
    if name not in PRESETS:
        raise DSDNInputError(f"preset={name!r} is invalid: must be one of {', '.join(map(repr, PRESETS))}.")
    return PRESETS[name]


def resolve_preset(name: str) -> AdapterPreset:
    """A preset by name (``tiny``, ``sd15``) or from a YAML file (a name ending in .yaml or .yml)."""
    if name.endswith((".yaml", ".yml")):
        return AdapterPreset.from_yaml(name)
    return get_preset(name)
