"""Does a DSDN model's motion stream use the direction word? (a diagnostic of the toy world)

For real toy-world clips of each direction it noises the clips' content and motion latents (one timestep
and one noise shared by every caption) and compares the motion stream's denoising error under the clip's
own caption, the same caption with the opposite direction, and the empty caption:

    python research/caption_gap.py [--model MODEL] [--clips 6] [--timesteps 500,800,950] [--transpose] [--attention]

MODEL is a saved model folder or a training checkpoint (``RUN/checkpoint-NNNNNNN``, its EMA weights, over
``--base``), so a running training can be watched learning the words.

"gap" is (error with the opposite caption) / (error with the right one) - 1, in percent: 0 means the
stream predicts the same motion whichever way the caption says the object moves. It is given three times:
the opposite caption in both streams; only in the motion stream's cross-attention (the content stream keeps
the right one); only in the content stream's. The last two tell whether the motion stream reads the word
itself or learns it from the content stream through the interaction. Prints one row per
direction and timestep, and how far apart the text encoder puts the two captions (|T(own) - T(opposite)| /
|T(own)| of its output states, mean over the clips' captions): the words' difference the stream could use;
and, over every v2 caption of the two directions, d' of their text states along the difference of the two
means (that difference over the states' spread along it, which the other words of the captions cause): how
easily a stream can tell the two words apart from the rest of the caption; and the same d' of the states'
means over the tokens, which is what a cross-attention with uniform weights reads. ``--attention`` adds, per
text cross-attention layer of the motion stream, the mean weight its queries give the direction word under the
clip's own caption (over clips, frames, positions, heads and the timesteps).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMScheduler

from dsdn.data.toy_world import CAPTION_SETS, ClipSpec, render_clip
from dsdn.evaluation.words import direction_dprime
from dsdn.generate import default_model_dir, load_pipeline
from dsdn.motion_codec import decompose_motion
from dsdn.training.runs import TRAINABLE_FILE
from dsdn.training.validation import pipeline_from_checkpoint

OPPOSITE = {"up": "down", "down": "up", "left": "right", "right": "left"}
#: For --against perpendicular: a direction on the other axis, so the gap asks about the axis, not the sign.
PERPENDICULAR = {"up": "left", "down": "right", "left": "up", "right": "down"}
OBJECTS = ("circle", "square", "digit two")
COLOURS = ("red", "green", "blue")


def word_positions(tokenizer, captions: list[str], word: str) -> torch.Tensor:
    """The token index of ``word`` in each caption (as the pipeline tokenizes them)."""
    ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids  # fmt: skip
    (word_id,) = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))
    return (ids == word_id).int().argmax(1)


class AttentionOnWord:
    """Records, per text cross-attention of a UNet, the attention weight its queries give one token.

    Forward pre-hooks recompute softmax(q k^T / sqrt(d)) from the layer's own projections of its
    inputs, so the layer's output and the attention processor in use are untouched.
    """

    def __init__(self, unet, stream: str = "motion"):
        self.stream = stream
        self.layers = {name: m for name, m in unet.named_modules() if getattr(m, "is_cross_attention", False)}
        self.weights: dict[str, dict[str, list[float]]] = {name: {} for name in self.layers}
        self.word, self.positions = None, None
        for name, module in self.layers.items():
            module.register_forward_pre_hook(self._hook(name), with_kwargs=True)

    def start(self, word: str, positions: torch.Tensor) -> None:
        self.word, self.positions = word, positions

    def stop(self) -> None:
        self.word = None

    def _hook(self, name):
        def hook(module, args, kwargs):
            text = kwargs.get("encoder_hidden_states")
            if self.word is None or text is None:
                return
            q, k = module.to_q(args[0]), module.to_k(text)
            if k.shape[0] != q.shape[0]:  # one text per clip, queries per frame
                k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)
            heads = module.heads
            q = q.unflatten(-1, (heads, -1)).transpose(1, 2)
            k = k.unflatten(-1, (heads, -1)).transpose(1, 2)
            probs = torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1).mean((1, 2))  # (B*F, L)
            pos = self.positions.repeat_interleave(probs.shape[0] // self.positions.shape[0])
            on_word = probs.gather(1, pos[:, None]).mean()
            self.weights[name].setdefault(self.word, []).append(float(on_word))

        return hook

    def report(self, tokens: int) -> None:
        uniform = f"uniform: 1/{tokens} = {1 / tokens:.3f}"
        print(f"{self.stream} stream's cross-attention weight on the direction word ({uniform})")
        prefix = "attention" if self.stream == "motion" else f"{self.stream}-attention"
        for name, by_word in self.weights.items():
            cells = " / ".join(f"{w} {np.mean(v):.3f}" for w, v in by_word.items())
            print(f"{prefix} {name}  {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="DSDN model folder or training checkpoint folder (default: the shipped model)."
    )
    parser.add_argument(
        "--base",
        default=str(default_model_dir() / "base"),
        help="Base model under a checkpoint (default: the shipped base).",
    )
    parser.add_argument("--clips", type=int, default=6, help="Clips per direction.")
    parser.add_argument("--timesteps", default="500,800,950", help="Training timesteps to noise at (of 1000).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--transpose",
        action="store_true",
        help="Swap the clips' height and width (for a model trained with --toy-transpose).",
    )
    parser.add_argument(
        "--phrase",
        type=int,
        default=0,
        choices=range(4),
        help="Which of toy-world v1's four phrases of each motion the captions use: 0 'moving up' "
        "(default), 1 'moves up', 2 'rises' / 'falls' / 'slides to the left', "
        "3 'is moving upwards'. The attention rows then follow the phrase's last word.",
    )
    parser.add_argument(
        "--against",
        choices=("opposite", "perpendicular"),
        default="opposite",
        help="The other caption names the opposite direction (default) or one on the other axis.",
    )
    parser.add_argument(
        "--attention",
        action="store_true",
        help="Also print each stream's cross-attention weight on the direction word.",
    )
    args = parser.parse_args()

    if args.model and (Path(args.model) / TRAINABLE_FILE).is_file():
        pipe = pipeline_from_checkpoint(args.base, args.model)
    else:
        pipe = load_pipeline(args.model)

    def encode(texts: list[str]):
        return pipe.encode_prompt(texts, do_classifier_free_guidance=False)[0]  # (N, L, D)

    denoiser = pipe.denoiser(True).eval()
    scale = pipe.adapter.config.motion_scale
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    g = torch.Generator().manual_seed(args.seed)
    n = args.clips
    # The content stream's (the frozen base UNet with its LoRA) for comparison: the motion stream's
    # cross-attention starts as a copy of the base's unless the preset leaves it fresh.
    watch = [AttentionOnWord(pipe.adapter.motion_unet), AttentionOnWord(pipe.unet, "content")] if args.attention else []
    print("direction  t    motion error: own caption / opposite / empty    gap: both / motion text / content text")
    for direction, opposite in (OPPOSITE if args.against == "opposite" else PERPENDICULAR).items():
        items = [(OBJECTS[k % 3], COLOURS[k % 3]) for k in range(n)]
        specs = [ClipSpec(o, c, direction, speed="quickly", seed=100 + k) for k, (o, c) in enumerate(items)]
        video = np.stack([render_clip(spec, 8, 64) for spec in specs])  # (B, F, H, W, 3)
        if args.transpose:
            video = video.transpose(0, 1, 3, 2, 4)
        x = torch.from_numpy(video).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0  # (B, 3, F, H, W)
        phrase, opposite_phrase = (CAPTION_SETS["v1"][d][args.phrase] for d in (direction, opposite))
        captions = [f"a {c} {o} {phrase}" for o, c in items]
        with torch.no_grad():
            z0 = pipe.frame_vae.encode(x, sample=False)
            m0 = decompose_motion(z0, scale)
            texts = {
                "own": encode(captions),
                "opposite": encode([f"a {c} {o} {opposite_phrase}" for o, c in items]),
                "empty": encode([""] * n),
            }
            own, opp = texts["own"], texts["opposite"]
            apart = float(((own - opp).flatten(1).norm(dim=1) / own.flatten(1).norm(dim=1)).mean())
            words = f"'{direction}' and '{opposite}'"
            print(f"{direction:<9} text states of '{phrase}' and '{opposite_phrase}' captions differ by {apart:.3f} "
                  "of their norm")  # fmt: skip
            if direction in ("up", "left"):
                d = direction_dprime(encode, direction, opposite)
                print(f"{direction:<9} d' of {words} over all v2 captions: {d['states']:.2f}, "
                      f"of their token means {d['token_mean']:.2f}")  # fmt: skip
            for t in (int(s) for s in args.timesteps.split(",")):
                tt = torch.full((n,), t)
                e_c, e_m = torch.randn(z0.shape, generator=g), torch.randn(m0.shape, generator=g)
                z_t, m_t = noise_scheduler.add_noise(z0, e_c, tt), noise_scheduler.add_noise(m0, e_m, tt)
                if watch:
                    for w in watch:
                        w.start(direction, word_positions(pipe.tokenizer, captions, phrase.split()[-1]))
                    denoiser(z_t, m_t, tt, own)
                    for w in watch:
                        w.stop()
                pairs = {k: (text, text) for k, text in texts.items()}  # (content text, motion text)
                pairs.update({"motion text": (own, opp), "content text": (opp, own)})
                err = {k: float(((denoiser(z_t, m_t, tt, c, motion_text=m)[1] - e_m) ** 2).mean())
                       for k, (c, m) in pairs.items()}  # fmt: skip
                gaps = [100.0 * (err[k] / err["own"] - 1.0) for k in ("opposite", "motion text", "content text")]
                print(f"{direction:<9} {t:>4}   {err['own']:.5f} / {err['opposite']:.5f} / {err['empty']:.5f}"
                      f"{gaps[0]:>+16.1f}% / {gaps[1]:+.1f}% / {gaps[2]:+.1f}%", flush=True)  # fmt: skip

    for w in watch:
        w.report(pipe.tokenizer.model_max_length)


if __name__ == "__main__":
    main()
