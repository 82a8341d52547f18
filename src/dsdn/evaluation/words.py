"""How well a text encoder tells the words of the toy world apart: the separation of its states for captions that
differ in one word, and how reliably a direction word moves them (d′). Logged while the base trains."""

from __future__ import annotations

import numpy as np
import torch

from ..tiny import MAX_TOKENS


@torch.no_grad()
def word_separation(text_encoder, tokenizer) -> dict[str, float]:
    """How far apart the text states of captions differing in one word are, per word kind.

    For each kind (``direction``: left/right/up/down, ``colour``, ``object``), the mean over
    word pairs and a few caption frames of ``|T(a) - T(b)| / |T(a)|`` (``T``: the encoder's
    output states). Near 0 means the encoder cannot tell those words apart, and nothing
    conditioned on it can either.
    """
    from ..data.toy_world import COLOURS, SHAPES

    kinds = {
        "direction": [("left", "right"), ("up", "down"), ("left", "up"), ("right", "down")],
        "colour": [("red", "blue"), ("green", "yellow"), ("white", "red")],
        "object": [("circle", "square"), ("square", "triangle"), ("circle", "triangle")],
    }
    frames = [("red", "circle", "up"), ("blue", "square", "left"), ("green", "triangle", "down")]
    assert all(c in COLOURS and o in SHAPES for c, o, _ in frames)
    device = next(text_encoder.parameters()).device
    out = {}
    for kind, pairs in kinds.items():
        ratios = []
        for colour, obj, motion in frames:
            for a, b in pairs:
                words = {"colour": colour, "object": obj, "direction": motion}
                ca = "a {colour} {object} moves {direction}".format(**{**words, kind: a})
                cb = "a {colour} {object} moves {direction}".format(**{**words, kind: b})
                ids = tokenizer([ca, cb], padding="max_length", max_length=MAX_TOKENS, return_tensors="pt")
                ta, tb = text_encoder(ids.input_ids.to(device))[0]
                ratios.append(float((ta - tb).norm() / ta.norm()))
        out[kind] = round(float(np.mean(ratios)), 4)
    return out


@torch.no_grad()
def encode_captions(text_encoder, tokenizer, captions: list[str]) -> torch.Tensor:
    """Text states ``(B, L, D)`` of ``captions``, padded as the pipelines pad them."""
    ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt")  # fmt: skip
    return text_encoder(ids.input_ids.to(next(text_encoder.parameters()).device))[0]


@torch.no_grad()
def direction_dprime(encode, a: str, b: str, version: str = "v2") -> dict[str, float]:
    """d' of the text states of every toy-world caption of motions ``a`` and ``b``, and of their token means.

    ``encode`` maps a list of captions to text states ``(B, L, D)``. The states of all captions of
    each motion (every object, colour, speed and phrase of ``version``) are projected on the
    difference of the two motions' mean states; d' is that difference over the projections' spread
    (pooled within-motion standard deviation), which the other words of the captions cause. Higher
    means a linear read-out tells the two words apart more easily from the rest of the caption.
    Returns ``{"states": d' of the whole states, "token_mean": d' of their means over the tokens}``;
    the latter is what a cross-attention with uniform weights reads.
    """
    from ..data.toy_world import COLOURS, OBJECTS, SPEEDS, ClipSpec, all_captions

    states = []
    for motion in (a, b):
        specs = (ClipSpec(o, c, motion, s, version=version) for o in OBJECTS for c in COLOURS for s in SPEEDS)
        captions = sorted({caption for spec in specs for caption in all_captions(spec)})
        states.append(torch.cat([encode(captions[i : i + 256]) for i in range(0, len(captions), 256)]).float())

    def dprime(x: torch.Tensor, y: torch.Tensor) -> float:
        diff = x.mean(0) - y.mean(0)
        along = torch.cat([x - x.mean(0), y - y.mean(0)]) @ (diff / diff.norm())
        return float(diff.norm() / along.std())

    return {
        "states": dprime(*(t.flatten(1) for t in states)),
        "token_mean": dprime(*(t.mean(1) for t in states)),
    }


def direction_dprimes(text_encoder, tokenizer) -> dict[str, dict[str, float]]:
    """:func:`direction_dprime` of the two direction pairs, "up/down" and "left/right", rounded for logs."""
    encode = lambda c: encode_captions(text_encoder, tokenizer, c)  # noqa: E731
    return {
        f"{a}/{b}": {k: round(v, 2) for k, v in direction_dprime(encode, a, b).items()}
        for a, b in (("up", "down"), ("left", "right"))
    }
