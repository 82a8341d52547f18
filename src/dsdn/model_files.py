"""A DSDN model folder's own trained parts (adapter and content LoRA), checked before any tensor is read.

An adapter folder (what :meth:`~dsdn.pipeline.DSDNPipeline.save_adapter` writes, and ``adapter/`` in a pipeline
folder) holds the adapter (``config.json``, ``diffusion_pytorch_model.safetensors``) and the content LoRA
(``pytorch_lora_weights.safetensors``); a broken or foreign file fails in one line that names it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .adapter import LORA_WEIGHT_NAME, DSDNAdapter
from .content_stream import LORA_ADAPTER_NAME
from .errors import DSDNInputError


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors header (no tensor is read); a broken file is a one-line error."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # SafetensorError, OSError...: the file is truncated, empty or not safetensors
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise DSDNInputError(f"{str(path)!r} is not a readable safetensors file ({first}): is it truncated?") from None


def lora_weight_name(variant: str | None = None) -> str:
    """The content LoRA's file name (``pytorch_lora_weights[.variant].safetensors``)."""
    return LORA_WEIGHT_NAME if variant is None else LORA_WEIGHT_NAME.replace(".safetensors", f".{variant}.safetensors")


def load_adapter(path: Path) -> DSDNAdapter:
    """Load a :class:`DSDNAdapter` safely, after :func:`check_adapter_files`."""
    check_adapter_files(path)
    return DSDNAdapter.from_pretrained(path, use_safetensors=True)


def check_adapter_files(path: Path, variant: str | None = None) -> None:
    """Check an adapter folder before any tensor is read: ``config.json`` is validated by building the model on
    the meta device (nothing allocated), then the weight file's header against it (every key and shape, the
    first mismatch named)."""
    import json

    cfg_path = path / "config.json"
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DSDNInputError(f"{str(cfg_path)!r} is not valid JSON ({e}).") from None
    if not isinstance(config, dict) or config.get("_class_name", "DSDNAdapter") != "DSDNAdapter":
        raise DSDNInputError(f"{str(cfg_path)!r} does not describe a DSDNAdapter (its _class_name is not DSDNAdapter).")
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in DSDNAdapter.from_config(config).state_dict().items()}
    except Exception as e:  # any bad field: wrong type, impossible widths...
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise DSDNInputError(f"{str(cfg_path)!r} is not a valid DSDN config ({type(e).__name__}: {first}).") from None
    weights = path / "diffusion_pytorch_model.safetensors"
    if variant is not None and (path / f"diffusion_pytorch_model.{variant}.safetensors").is_file():
        weights = path / f"diffusion_pytorch_model.{variant}.safetensors"
    if not weights.is_file():
        raise DSDNInputError(f"{str(path)!r} has no diffusion_pytorch_model.safetensors (DSDN loads safetensors only).")
    found = safetensors_shapes(weights)
    for key, shape in expected.items():
        if key not in found:
            raise DSDNInputError(f"{str(weights)!r} does not match its config.json: key {key!r} is missing.")
        if found[key] != shape:
            raise DSDNInputError(
                f"{str(weights)!r} does not match its config.json: {key!r} has shape {found[key]} in the file, "
                f"{shape} in the config."
            )
    extra = sorted(set(found) - set(expected))
    if extra:
        raise DSDNInputError(f"{str(weights)!r} does not match its config.json: unexpected key {extra[0]!r}.")


def load_content_lora(path: Path, unet, variant: str | None = None) -> None:
    """Load the content LoRA of the adapter folder ``path`` (when it has one) into ``unet``, the frozen base's
    UNet, in place of any content LoRA it carries already (the zero one a new pipeline adds)."""
    name = lora_weight_name(variant)
    if not (path / name).is_file() and variant is not None:
        name = LORA_WEIGHT_NAME  # saved without the variant
    if (path / name).is_file():
        safetensors_shapes(path / name)  # a truncated or foreign file fails here, in one line
        if LORA_ADAPTER_NAME in (getattr(unet, "peft_config", None) or {}):
            unet.delete_adapters(LORA_ADAPTER_NAME)
        unet.load_lora_adapter(str(path), weight_name=name, adapter_name=LORA_ADAPTER_NAME, prefix="unet")
