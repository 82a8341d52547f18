"""``dsdn web``: a small local page to type a prompt, set seed, frames, λ and γ, and watch the video.

Built with Gradio (the optional extra ``pip install 'dsdn[web]'``). The model is loaded once;
every click runs the same code as ``dsdn generate`` (:func:`~dsdn.generate.generate_video`) and
shows the mp4. The server listens on 127.0.0.1 only: nothing is shared or sent off the machine
(Gradio's analytics are switched off before it is imported).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from .errors import DSDNInputError
from .motion_codec import COMBINERS

HOST = "127.0.0.1"
REDRAW, TRANSFER = "redraw it (video-to-video)", "take its motion (motion transfer)"


def _import_gradio():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio as gr
    except ImportError:
        raise DSDNInputError(
            "the web page needs Gradio: pip install 'dsdn[web]' (or -e '.[web]' in a checkout)."
        ) from None
    return gr


def build_demo(model: str | None = None, device: str = "auto", out_dir: str | Path | None = None):
    """The Gradio ``Blocks`` page for ``model`` (default: the shipped model); videos go to ``out_dir``
    (default: a new temporary folder)."""
    gr = _import_gradio()
    from .devices import check_device
    from .generate import GenerateConfig, generate_video, load_pipeline
    from .options import TRANSFER_STRENGTH, V2V_STRENGTH

    check_device(device)

    pipe = load_pipeline(model, device=device)
    cfg = pipe.adapter.config
    max_frames = int(getattr(cfg, "motion_frame_positions", 0) or 32)
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="dsdn-web-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    words = sorted(pipe.known_words) if getattr(pipe, "known_words", None) else None

    def run(prompt, seed, frames, lora_scale, motion_coherence, combiner, stream_sync, shared_noise, carry_from,
            early_coherence, early_until, steps, image=None, source=None, strength=None, travel="",
            source_use=REDRAW, context_frames=0, loop=False, progress=gr.Progress(track_tqdm=True)):  # fmt: skip
        prompt_at = tuple(line.strip() for line in (travel or "").splitlines() if line.strip())
        try:
            job = GenerateConfig(
                prompt=prompt, model=model, out=str(out_dir / f"dsdn-{uuid.uuid4().hex[:8]}.mp4"), frames=int(frames),
                steps=int(steps), lora_scale=float(lora_scale), motion_coherence=float(motion_coherence),
                combiner=combiner, stream_sync=float(stream_sync),
                shared_noise=float(shared_noise), early_coherence=float(early_coherence), prompt_at=prompt_at,
                carry_from=None if prompt_at else float(carry_from),  # under travel: off (it holds frame 1's look)
                early_until=float(early_until), seed=int(seed), device=device, image=image or None,
                source_video=source if source and source_use == REDRAW else None,
                motion_video=source if source and source_use != REDRAW else None,
                strength=float(strength) if source and strength is not None else None,
                context_frames=int(context_frames) or None, loop=bool(loop),
            )  # fmt: skip
            path, _ = generate_video(job, progress=True, pipe=pipe)
        except (DSDNInputError, TypeError, ValueError) as e:
            raise gr.Error(str(e)) from None
        return str(path)

    with gr.Blocks(title="dsdn: text to video") as demo:
        gr.Markdown("## dsdn: text to video with the Dual-Stream Diffusion Net")
        if words:
            gr.Markdown("This model knows only these words: " + ", ".join(words))
        prompt = gr.Textbox(label="Prompt", value="a red circle moving right", elem_id="prompt")
        travel = gr.Textbox(label="Later prompts (optional: prompt travel, one 'FRAME: text' per line; object carry is "
                            "then off)", lines=2, elem_id="travel")  # fmt: skip
        with gr.Row():
            seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="seed")
            frames = gr.Slider(2, max(64, max_frames), value=8, step=1, label="Frames", elem_id="frames")
            steps = gr.Slider(1, 100, value=pipe.default_steps(), step=1, label="Denoising steps", elem_id="steps")
            context = gr.Slider(
                0,
                max_frames,
                value=0,
                step=1,
                elem_id="context",
                label=f"Context window (frames; 0 = the whole clip, which allows up to {max_frames})",
            )
            loop = gr.Checkbox(False, label="Loop (the last frame flows into the first; needs a context window)",
                               elem_id="loop")  # fmt: skip
        with gr.Row():
            lora = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="λ: content LoRA scale", elem_id="lora")
            gamma = gr.Slider(0.0, 1.0, value=float(cfg.motion_coherence), step=0.05, label="γ: motion coherence",
                              elem_id="gamma")  # fmt: skip
            combiner = gr.Radio(list(COMBINERS), value=cfg.combiner, label="Motion combiner",
                                elem_id="combiner")  # fmt: skip
            sync = gr.Slider(0.0, 1.0, value=float(getattr(cfg, "stream_sync", 0.0)), step=0.05,
                             label="Stream sync (0 = combine only at the end)", elem_id="sync")  # fmt: skip
            shared = gr.Slider(0.0, 1.0, value=float(getattr(cfg, "shared_noise", 0.0)), step=0.05,
                               label="Shared noise across frames", elem_id="shared")  # fmt: skip
            carry = gr.Slider(0.0, 1.0, value=float(getattr(cfg, "carry_from", 1.0)), step=0.04,
                              label="Carry frame 1's object from (share of steps; 1 = never)", elem_id="carry")  # fmt: skip
            early = gr.Slider(0.0, 1.0, value=pipe.sampling_settings()["early_coherence"], step=0.05,
                              label="γ of the early steps", elem_id="early_gamma")  # fmt: skip
            until = gr.Slider(0.0, 1.0, value=float(getattr(cfg, "early_until", 0.0)), step=0.04,
                              label="Early steps (share of steps; 0 = none)", elem_id="early_until")  # fmt: skip
        image = gr.Image(label="Start from this picture (optional: image-to-video)", type="filepath", height=160,
                         elem_id="image")  # fmt: skip
        with gr.Row():
            source = gr.Video(label="A clip to start from (optional)", height=160, elem_id="source")
            source_use = gr.Radio([REDRAW, TRANSFER], value=REDRAW, label="Use the clip to", elem_id="source_use")
            strength = gr.Slider(0.05, 1.0, value=V2V_STRENGTH, step=0.05, label="Strength (share redrawn)",
                                 elem_id="strength")  # fmt: skip
        source_use.change(lambda use: V2V_STRENGTH if use == REDRAW else TRANSFER_STRENGTH, source_use, strength)
        image.change(lambda picture: pipe.sampling_settings(image=bool(picture))["early_coherence"], image, early)
        button = gr.Button("Generate", variant="primary", elem_id="generate")
        video = gr.Video(label="Video", elem_id="video", autoplay=True, loop=True, height=384)
        button.click(
            run,
            [
                prompt,
                seed,
                frames,
                lora,
                gamma,
                combiner,
                sync,
                shared,
                carry,
                early,
                until,
                steps,
                image,
                source,
                strength,
                travel,
                source_use,
                context,
                loop,
            ],
            video,
            concurrency_limit=1,
        )
    return demo


def check_port_free(port: int) -> None:
    """Refuse a port that another program already listens on, before the model loads."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError as e:
            raise DSDNInputError(
                f"port={port} is invalid: {HOST}:{port} is not free ({e.strerror}). Pick another with --port."
            ) from None


def serve(model: str | None = None, port: int = 7860, device: str = "auto", open_browser: bool = False):
    """Build the page and serve it on http://127.0.0.1:PORT until interrupted."""
    from .devices import check_device

    check_device(device)
    check_port_free(port)
    demo = build_demo(model, device=device)
    demo.queue().launch(server_name=HOST, server_port=port, share=False, inbrowser=open_browser, show_error=True)
