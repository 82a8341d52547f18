"""How a :class:`~dsdn.pipeline.DSDNPipeline` is saved and loaded: a diffusers pipeline folder, or an adapter folder
(DSDN's trained parts alone) on a base. :func:`~dsdn.model_layout.model_parts` tells the two apart."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from .content_stream import LORA_ADAPTER_NAME
from .errors import DSDNInputError
from .loading import load_base
from .model_files import check_adapter_files, load_adapter, load_content_lora, lora_weight_name
from .model_layout import model_parts
from .vocabulary import VOCABULARY_FILE, read_vocabulary

logger = logging.getLogger(__name__)


class PipelineFilesMixin:
    """``from_pretrained``, ``save_pretrained`` and ``save_adapter`` of :class:`~dsdn.pipeline.DSDNPipeline` (listed
    before ``DiffusionPipeline`` among its bases, whose loader and saver these call)."""

    @classmethod
    def from_pretrained(cls, path, base=None, base_config=None, **kwargs):
        """Load a DSDN model from a folder in either of its two layouts.

        - A **pipeline folder**, as :meth:`save_pretrained` writes it: diffusers' layout (``model_index.json``,
          the base's ``vae/``, ``text_encoder/``, ``tokenizer/``, ``unet/`` and ``scheduler/``, and ``adapter/``,
          DSDN's trained parts). It loads through diffusers' own loader, so its keywords apply: ``torch_dtype`` or
          ``dtype`` (one dtype, or a dict by component with a ``"default"``), ``variant``, ``use_safetensors``,
          ``device_map``, ``low_cpu_mem_usage``, and a component passed by name (``scheduler=...``) replaces the
          saved one.
        - An **adapter folder**, as :meth:`save_adapter` writes it (``config.json``,
          ``diffusion_pytorch_model.safetensors`` and ``pytorch_lora_weights.safetensors``), loaded onto ``base``:
          an SD-1.x folder or ``.safetensors`` checkpoint (``base_config``: the config folder a single file
          needs, see :func:`~dsdn.loading.load_base`), by default the ``base/`` folder that
          ``save_adapter(..., include_base=True)`` writes beside the weights. Only ``torch_dtype``/``dtype`` apply.
        """
        path = Path(path).expanduser()
        if not path.is_dir():
            raise DSDNInputError(
                f"model={str(path)!r} is not a folder: give a folder saved by DSDNPipeline.save_pretrained."
            )
        adapter_dir, own_base = model_parts(path)
        if adapter_dir != path:  # a pipeline folder
            if base is not None or base_config is not None:
                raise DSDNInputError(f"model={str(path)!r} is a pipeline folder and holds its own base: drop base= "
                                     "and base_config= (they are for an adapter folder).")  # fmt: skip
            variant = kwargs.get("variant")
            check_adapter_files(adapter_dir, variant)
            if kwargs.setdefault("use_safetensors", True) is not True:
                raise DSDNInputError("use_safetensors=False: DSDN loads safetensors only (no pickles).")
            kwargs["local_files_only"] = True  # nothing calls a hub
            pipe = super().from_pretrained(path, **kwargs)
            if pipe.unet is not None and pipe.content_stream is not None:
                load_content_lora(adapter_dir, pipe.unet, variant=variant)
            pipe.known_words = read_vocabulary(path)
            return pipe
        if not (path / "config.json").is_file():
            if (path / "model_index.json").is_file():
                raise DSDNInputError(f"model={str(path)!r} is a diffusers pipeline folder without adapter/ (a plain "
                                     "Stable Diffusion folder?): pass it as base= with a DSDN adapter folder.")  # fmt: skip
            raise DSDNInputError(f"model={str(path)!r} has no config.json and no model_index.json: it is not a DSDN "
                                 "model folder.")  # fmt: skip
        torch_dtype, dtype = kwargs.pop("torch_dtype", None), kwargs.pop("dtype", None)
        torch_dtype = dtype if torch_dtype is None else torch_dtype
        if kwargs:
            raise DSDNInputError(
                f"model={str(path)!r} is an adapter folder: {', '.join(sorted(kwargs))}= only apply "
                "to a pipeline folder (save one with save_pretrained); here only torch_dtype= does."
            )
        if base is None:
            base = own_base
            if base is None:
                raise DSDNInputError(
                    f"model={str(path)!r} holds DSDN weights only (no base/ folder): pass the SD base it was trained on."
                )
        if not isinstance(torch_dtype, torch.dtype | None):
            raise DSDNInputError(f"torch_dtype={torch_dtype!r} must be one torch dtype for an adapter folder.")
        adapter = load_adapter(path)
        if torch_dtype is not None:
            adapter.to(dtype=torch_dtype)
        components = load_base(base, config=base_config, torch_dtype=torch_dtype)
        load_content_lora(path, components["unet"])
        return cls.from_components({**components, "known_words": read_vocabulary(base)}, adapter)

    def save_pretrained(self, save_directory, safe_serialization: bool = True, variant: str | None = None,
                        **kwargs) -> None:  # fmt: skip
        """Save the whole pipeline as a diffusers pipeline folder (see :meth:`from_pretrained`): the frozen base as
        diffusers saves Stable Diffusion (its ``unet/`` without the content LoRA, so the folder's base also loads
        as a plain SD pipeline), and ``adapter/`` with the motion stream, the interaction and the content LoRA.
        diffusers' keywords apply (``safe_serialization``, ``variant``, ``max_shard_size``); DSDN saves
        safetensors only. :meth:`save_adapter` saves DSDN's trained parts alone."""
        if not safe_serialization:  # DSDN reads no pickles, so it writes none either
            logger.warning("safe_serialization=False: DSDN writes safetensors only (it loads no pickles)")
        if kwargs.get("push_to_hub"):
            raise DSDNInputError("push_to_hub=True: dsdn never calls a hub; push the saved folder yourself.")
        out = Path(save_directory)
        plain = self.base_unet_copy() if self.content_stream is not None and self.content_stream.has_lora else None
        lora_unet = self.unet
        if plain is not None:
            object.__setattr__(self, "unet", plain)  # the same class: model_index.json stays as it is
        try:
            super().save_pretrained(out, safe_serialization=True, variant=variant, **kwargs)
        finally:
            object.__setattr__(self, "unet", lora_unet)
        if plain is not None and self.adapter is not None:
            self._save_lora(out / "adapter", variant)
        if self.known_words is not None:
            (out / VOCABULARY_FILE).write_text("\n".join(sorted(self.known_words)) + "\n")

    def save_adapter(self, save_directory, include_base: bool = False) -> None:
        """Save DSDN's own trained parts, for use on any SD-1.x base: the adapter (``config.json``,
        ``diffusion_pytorch_model.safetensors``) and the content LoRA (``pytorch_lora_weights.safetensors``, in
        diffusers' LoRA format); with ``include_base`` also the frozen base as a standard SD folder in ``base/``."""
        out = Path(save_directory)
        out.mkdir(parents=True, exist_ok=True)
        self.adapter.save_pretrained(out)
        if self.content_stream.has_lora:
            self._save_lora(out, None)
        if include_base:
            from diffusers import StableDiffusionPipeline

            StableDiffusionPipeline(
                vae=self.vae, text_encoder=self.text_encoder, tokenizer=self.tokenizer, unet=self.base_unet_copy(),
                scheduler=self.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
            ).save_pretrained(out / "base")  # fmt: skip
            if self.known_words is not None:
                (out / "base" / VOCABULARY_FILE).write_text("\n".join(sorted(self.known_words)) + "\n")

    def _save_lora(self, folder: Path, variant: str | None) -> None:
        from peft.utils import get_peft_model_state_dict

        lora = get_peft_model_state_dict(self.unet, adapter_name=LORA_ADAPTER_NAME)
        self.save_lora_weights(folder, unet_lora_layers=lora, weight_name=lora_weight_name(variant),
                               safe_serialization=True)  # fmt: skip
