"""Tiny SD-format components built in code, offline: for tests, examples and the toy world.

Everything here is deterministic given ``seed`` and needs no download: a byte-level
:class:`~transformers.CLIPTokenizer` whose merges spell a given vocabulary, a small
:class:`~transformers.CLIPTextModel`, :class:`~diffusers.AutoencoderKL` and
:class:`~diffusers.UNet2DConditionModel`, and a ``DDIMScheduler`` with SD's schedule.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

#: Tokens per caption of the tiny bases (their text encoders' positions).
MAX_TOKENS = 16

DEFAULT_WORDS = (
    "a", "the", "red", "green", "blue", "yellow", "white", "ball", "circle", "square", "digit",
    "moving", "moves", "left", "right", "up", "down", "slowly", "quickly",
)  # fmt: skip


def bytes_to_unicode() -> dict[int, str]:
    # GPT-2/CLIP byte-level alphabet: printable bytes map to themselves, the rest to 256+.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tiny_clip_tokenizer(words: Iterable[str] = DEFAULT_WORDS, max_length: int = MAX_TOKENS):
    """A CLIP BPE tokenizer whose merges build each of ``words`` into one token.

    Unknown words fall back to byte tokens (never ``[UNK]``).
    """
    from transformers import CLIPTokenizer

    chars = list(bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
    for c in chars:
        vocab.setdefault(c + "</w>", len(vocab))
    merges = []
    for w in words:
        w = w.lower()
        syms = list(w[:-1]) + [w[-1] + "</w>"]
        cur = syms[0]
        for s in syms[1:]:
            if (cur, s) not in merges:
                merges.append((cur, s))
            cur += s
            vocab.setdefault(cur, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def tiny_text_encoder(vocab_size: int, hidden_size: int = 32, max_length: int = MAX_TOKENS, seed: int = 0):
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=vocab_size, max_position_embeddings=max_length,
        projection_dim=hidden_size,
    )  # fmt: skip
    return CLIPTextModel(config).eval()


def tiny_vae(seed: int = 0, block_out_channels=(16, 32), latent_channels: int = 4):
    """An AutoencoderKL with a ``2**(len(block_out_channels)-1)`` pixel-to-latent factor."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    n = len(block_out_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=tuple(block_out_channels),
        latent_channels=latent_channels, norm_num_groups=8, layers_per_block=1, sample_size=32,
    ).eval()  # fmt: skip


def tiny_unet(cross_attention_dim: int = 32, seed: int = 0, block_out_channels=(32, 64), sample_size: int = 8):
    """An SD-style UNet2DConditionModel: cross-attention on the low-resolution levels only."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    n = len(block_out_channels)
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1)
    up = ("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",)
    return UNet2DConditionModel(
        sample_size=sample_size, in_channels=4, out_channels=4, down_block_types=down, up_block_types=up,
        block_out_channels=tuple(block_out_channels), layers_per_block=1, cross_attention_dim=cross_attention_dim,
        norm_num_groups=8, attention_head_dim=8,
    ).eval()  # fmt: skip


def sd_scheduler():
    """DDIM with Stable Diffusion's training schedule."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        set_alpha_to_one=False, steps_offset=1,
    )  # fmt: skip


def tiny_sd_components(seed: int = 0, words: Iterable[str] = DEFAULT_WORDS) -> dict:
    """The components of a tiny :class:`~diffusers.StableDiffusionPipeline` (random weights)."""
    tokenizer = tiny_clip_tokenizer(words)
    return dict(
        vae=tiny_vae(seed),
        text_encoder=tiny_text_encoder(len(tokenizer), seed=seed),
        tokenizer=tokenizer,
        unet=tiny_unet(seed=seed),
        scheduler=sd_scheduler(),
    )


def tiny_sd_pipeline(seed: int = 0, words: Iterable[str] = DEFAULT_WORDS):
    """A tiny StableDiffusionPipeline that ``save_pretrained`` writes as a standard SD folder."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        **tiny_sd_components(seed, words), safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
