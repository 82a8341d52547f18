"""Loading a content base: an SD-1.x diffusers folder or a single ``.safetensors`` checkpoint.

Never a hub call: folders are read with ``local_files_only=True``, and single-file checkpoints
(original ``model.diffusion_model.*`` layout, as distributed by model sites) are interpreted with
configs that ship inside this package (``dsdn/configs/sd15``), or with a diffusers-format folder
the caller names (for bases that are not SD-1.5 shaped). Pickle checkpoints (``.ckpt``/``.pt``)
are refused: convert them to safetensors first.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DSDNInputError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

BASE_COMPONENTS = ("vae", "text_encoder", "tokenizer", "unet", "scheduler")


def sd15_config_dir() -> Path:
    """The shipped diffusers-format config folder for SD-1.x single-file checkpoints."""
    return Path(str(resources.files("dsdn") / "configs" / "sd15"))


@lru_cache(maxsize=1)
def _clip_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    from .tiny import bytes_to_unicode

    # Rebuild CLIP's vocabulary exactly as OpenAI's SimpleTokenizer does from its BPE list.
    path = sd15_config_dir() / "tokenizer" / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def sd15_tokenizer():
    """The 49,408-token CLIP tokenizer of SD-1.x, built offline from the shipped BPE list."""
    from transformers import CLIPTokenizer

    vocab, merges = _clip_vocab()
    return CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=77)


@contextmanager
def quiet_loading():
    """Hide diffusers'/transformers' per-component loading bars (loading a small base takes < 1 s)."""
    from diffusers.utils import logging as d_logging
    from transformers.utils import logging as t_logging

    d_was, t_was = d_logging.is_progress_bar_enabled(), t_logging.is_progress_bar_enabled()
    d_logging.disable_progress_bar()
    t_logging.disable_progress_bar()
    try:
        yield
    finally:
        if d_was:
            d_logging.enable_progress_bar()
        if t_was:
            t_logging.enable_progress_bar()


@contextmanager
def _clear_load_errors(path: Path):
    """Turn any failure while reading a user-supplied base into one line naming the file (no traceback)."""
    try:
        yield
    except DSDNInputError:
        raise
    except Exception as e:  # diffusers/transformers/safetensors raise many types for broken files
        first = (str(e).strip().splitlines() or [""])[0][:300]
        raise DSDNInputError(
            f"base={str(path)!r} could not be loaded ({type(e).__name__}: {first}). Is a file missing, truncated, "
            "or not in safetensors format?"
        ) from None


def read_json(path: Path):
    """A JSON file's data, or ``None`` when it is missing or unreadable (the loader names the damage later)."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def base_limits(base: str | Path) -> dict[str, int]:
    """``max_steps`` (the scheduler's training steps) and ``size_factor`` (what height and width must be
    multiples of) of a base, from its JSON configs only; a key is missing when its config is."""
    base = Path(base).expanduser()
    folder = sd15_config_dir() if base.suffix == ".safetensors" else base
    limits = {}
    scheduler = read_json(folder / "scheduler" / "scheduler_config.json")
    if isinstance(scheduler, dict) and isinstance(scheduler.get("num_train_timesteps"), int):
        limits["max_steps"] = scheduler["num_train_timesteps"]
    vae, unet = read_json(folder / "vae" / "config.json"), read_json(folder / "unet" / "config.json")
    try:
        limits["size_factor"] = 2 ** (len(vae["block_out_channels"]) - 1) * 2 ** (len(unet["block_out_channels"]) - 1)
    except (KeyError, TypeError):
        pass
    return limits


def base_fingerprint(path: str | Path) -> str:
    """A short hash of a base's weights, to tell whether a model was trained on this very base.

    A folder hashes every ``*.safetensors`` and ``*.bin`` file under it with its relative path (configs
    and the tokenizer are left out: they describe the weights, they do not train); a single file hashes
    the file. Two bases with the same weights get the same fingerprint wherever they lie.
    """
    path = Path(path)
    files = sorted(f for f in path.rglob("*") if f.suffix in (".safetensors", ".bin")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise DSDNInputError(f"{str(path)!r} holds no weight files to fingerprint: is it a base?")
    digest = hashlib.sha256()
    for f in files:
        digest.update((f.relative_to(path).as_posix() if path.is_dir() else "").encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def load_base(
    path: str | Path,
    config: str | Path | None = None,
    torch_dtype: torch.dtype | None = None,
) -> dict:
    """Load the frozen base components: ``vae``, ``text_encoder``, ``tokenizer``, ``unet``, ``scheduler``.

    Args:
        path: a diffusers SD folder (``model_index.json``, ``unet/``, ...) or a single
            ``.safetensors`` checkpoint in the original SD layout.
        config: for a single file, a diffusers-format folder of configs that describes it
            (default: the shipped SD-1.5 configs). Ignored for folders.
        torch_dtype: dtype of the loaded weights (default float32).
    """
    from diffusers import StableDiffusionPipeline

    path = Path(path).expanduser()
    common = dict(safety_checker=None, requires_safety_checker=False)
    if not path.exists():
        raise DSDNInputError(
            f"base={str(path)!r} does not exist: give an SD-1.x diffusers folder or a .safetensors file."
        )
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise DSDNInputError(
                f"base={str(path)!r} is not a diffusers pipeline folder (no model_index.json): "
                "give an SD-1.x diffusers folder or a .safetensors checkpoint."
            )
        with quiet_loading(), _clear_load_errors(path):
            pipe = StableDiffusionPipeline.from_pretrained(path, local_files_only=True, use_safetensors=True, **common)
    elif path.suffix == ".safetensors":
        config_dir = Path(config).expanduser() if config else sd15_config_dir()
        if not (config_dir / "model_index.json").is_file():
            raise DSDNInputError(f"config={str(config_dir)!r} is not a diffusers config folder (no model_index.json).")
        extra = {}
        if not (config_dir / "tokenizer" / "tokenizer_config.json").is_file():
            extra["tokenizer"] = sd15_tokenizer()
        with quiet_loading(), _clear_load_errors(path):
            pipe = StableDiffusionPipeline.from_single_file(
                str(path), config=str(config_dir), local_files_only=True, **common, **extra
            )
    elif path.suffix in {".ckpt", ".pt", ".pth", ".bin"}:
        raise DSDNInputError(
            f"base={str(path)!r} is a pickle checkpoint, which can run arbitrary code when loaded: "
            "convert it to .safetensors first (dsdn only loads safetensors)."
        )
    else:
        raise DSDNInputError(f"base={str(path)!r} has an unknown format: expected a folder or a .safetensors file.")
    if torch_dtype is not None:
        pipe.to(dtype=torch_dtype)
    logger.info("loaded base from %s", path)
    return {name: getattr(pipe, name) for name in BASE_COMPONENTS}
