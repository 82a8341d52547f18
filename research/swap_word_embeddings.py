"""Copy a base with some words' token embeddings swapped in its text encoder (a diagnostic of the toy world).

    python research/swap_word_embeddings.py --base BASE --out NEW_BASE [--pairs up:left,down:right]

Each pair's two rows of the text encoder's token-embedding table trade places, and nothing else changes: in
NEW_BASE, "a red circle moving up" gets exactly the text states that BASE gives "a red circle moving left".
Train DSDN over NEW_BASE (``dsdn train video --base NEW_BASE ...``) and ask it with
``research/caption_gap.py --base NEW_BASE``: if the motion stream's trouble with a motion class follows the
states (now under the other words) the cause is in the text encoder; if it stays with the class, it is not.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from transformers import CLIPTextModel, CLIPTokenizer


def parse_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        words = item.strip().split(":")
        if len(words) != 2 or not all(words):
            raise SystemExit(f"--pairs: {item!r} is not WORD:WORD")
        pairs.append((words[0], words[1]))
    seen = [w for pair in pairs for w in pair]
    if len(set(seen)) != len(seen):
        raise SystemExit(f"--pairs: a word appears twice in {text!r}")
    return pairs


def token_id(tokenizer: CLIPTokenizer, word: str) -> int:
    tokens = tokenizer.tokenize(word)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    if len(ids) != 1 or ids[0] == tokenizer.unk_token_id:
        raise SystemExit(f"{word!r} is not one token of this base's tokenizer (it gives {tokens})")
    return ids[0]


def swap_word_embeddings(base: str | Path, out: str | Path, pairs: list[tuple[str, str]]) -> None:
    """Write ``out``: a copy of the diffusers base folder ``base`` whose text encoder has each pair's rows swapped."""
    base, out = Path(base), Path(out)
    if out.exists():
        raise SystemExit(f"--out {out} already exists")
    tokenizer = CLIPTokenizer.from_pretrained(base / "tokenizer")
    rows = [(token_id(tokenizer, a), token_id(tokenizer, b)) for a, b in pairs]
    text_encoder = CLIPTextModel.from_pretrained(base / "text_encoder")
    table = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        for a, b in rows:
            table[[a, b]] = table[[b, a]].clone()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base, tmp, ignore=shutil.ignore_patterns("text_encoder"))
    text_encoder.save_pretrained(tmp / "text_encoder")
    tmp.rename(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="A diffusers base folder (e.g. src/dsdn/default_model/base).")
    parser.add_argument("--out", required=True, help="Where the new base goes (must not exist).")
    parser.add_argument("--pairs", default="up:left,down:right", help="Comma-separated WORD:WORD pairs to swap.")
    args = parser.parse_args()
    swap_word_embeddings(args.base, args.out, parse_pairs(args.pairs))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
