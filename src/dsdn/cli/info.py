"""``dsdn info``, ``dsdn web`` and ``dsdn version``."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import DSDNInputError
from .common import app, boundary


def _count_parameters(files) -> int:
    """Parameters stored in safetensors files, read from their headers (no tensor is loaded)."""
    from math import prod

    from ..model_files import safetensors_shapes

    return sum(prod(shape) for f in files for shape in safetensors_shapes(f).values())


@app.command(epilog="Example: dsdn info --model ./my-dsdn")
@boundary
def info(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="DSDN model folder (default: the shipped model)."),
    words: bool = typer.Option(False, "--words", help="List every word of a closed vocabulary."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Print a model's settings, parameter counts, base and vocabulary, the package versions and the device."""
    import json

    import torch

    from ..generate import resolve_model_dir
    from ..model_layout import model_parts
    from ..video_io import package_versions
    from ..vocabulary import read_vocabulary

    path = resolve_model_dir(model)
    adapter, base = model_parts(path)
    config_file = adapter / "config.json"
    if not config_file.is_file():
        raise DSDNInputError(f"--model={str(path)!r} has no config.json and no model_index.json: it is not a DSDN "
                             "model folder.")  # fmt: skip
    try:
        config = json.loads(config_file.read_text())
    except ValueError as e:
        raise DSDNInputError(f"{config_file} is not valid JSON ({e}): the model folder is damaged.") from None
    if not isinstance(config, dict):
        raise DSDNInputError(f"{config_file} does not describe a DSDNAdapter (it holds a {type(config).__name__}, "
                             "not an object): the model folder is damaged.")  # fmt: skip
    lines = []  # printed only once everything has been read: an error is then the only line
    layout = "pipeline folder" if adapter != path else "adapter folder"
    lines.append(f"model: {path}{'  (shipped default)' if model is None else ''}  ({layout})")
    motion = config.get("motion_unet_config")
    motion = motion if isinstance(motion, dict) else {}
    lines.append(
        f"  motion stream: channels {motion.get('block_out_channels')}, {motion.get('sample_size')}-pixel latents; "
        f"LoRA rank {config.get('lora_rank')}; motion coherence γ {config.get('motion_coherence')} "
        f"({config.get('combiner', 'causal')} combiner, stream sync {config.get('stream_sync', 0.0)}, "
        f"shared noise {config.get('shared_noise', 0.0)}, cross-frame attention "
        f"{config.get('cross_frame_attention', False)}, carry from {config.get('carry_from', 1.0)}"
        + (
            f", γ {config.get('early_coherence')} for the first {config['early_until']} of the steps"
            if config.get("early_until")
            else ""
        )
        + "); "
        f"motion scale {config.get('motion_scale')}; frames up to {config.get('motion_frame_positions')}"
        + (f"; learned toy world {config['toy_world']}" if config.get("toy_world") else "")
        + (f"; {config['num_inference_steps']} denoising steps" if config.get("num_inference_steps") else "")
    )
    own = sorted(adapter.glob("*.safetensors"))
    lines.append(f"  DSDN parameters (motion stream, interaction, LoRA): {_count_parameters(own):,}")
    if base is not None:
        frozen = sorted(f for part in ("unet", "vae", "text_encoder") for f in (base / part).glob("*.safetensors"))
        lines.append(f"base: {base}  (frozen parameters: {_count_parameters(frozen):,})")
        vocab = read_vocabulary(base)
        if vocab is None:
            lines.append("  vocabulary: open (the base's tokenizer)")
        else:
            lines.append(f"  vocabulary: closed, {len(vocab)} words" + (": " + " ".join(sorted(vocab)) if words else
                                                                         " (--words lists them)"))  # fmt: skip
    else:
        lines.append("base: not included (pass --base to generate; DSDN weights only)")
    card = path / "MODEL_CARD.md"
    if card.is_file():
        lines.append(f"model card: {card}")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in package_versions().items()))
    device = f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"
    lines.append(f"device: {device}, {torch.get_num_threads()} CPU threads")
    typer.echo("\n".join(lines))


@app.command(epilog="Example: dsdn web --port 7860   (then open http://127.0.0.1:7860)")
@boundary
def web(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="DSDN model folder (default: the shipped model)."),
    port: int = typer.Option(7860, help="Port on 127.0.0.1 (the page is never served to other machines)."),
    device: str = typer.Option("auto", help="Torch device: auto (CUDA when present, else CPU), cpu, cuda, cuda:1..."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Serve a local web page (Gradio, optional extra 'web') to type a prompt, set seed/frames/λ/γ and watch the video."""
    from ..errors import invalid
    from ..web import serve

    if not 1 <= port <= 65535:
        raise invalid("port", port, "must be an integer from 1 to 65535")
    serve(model, port=port, device=device, open_browser=open_browser)


@app.command(epilog="Example: dsdn version")
@boundary
def version() -> None:
    """Print the versions of dsdn and its main dependencies."""
    from ..video_io import package_versions

    for name, v in package_versions().items():
        typer.echo(f"{name} {v}")
