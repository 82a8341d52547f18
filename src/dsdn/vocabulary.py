"""Closed vocabularies: the words a toy-world model was trained on, and prompts read in those words.

Light on purpose (no torch, no diffusers), so that ``dsdn generate`` refuses an unknown word before any
weights load.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import DSDNInputError, invalid

VOCABULARY_FILE = "dsdn_vocabulary.txt"


def prompt_words(text: str) -> list[str]:
    """Lower-case words of a prompt, punctuation dropped (as compared with a closed vocabulary).

    Words are runs of Unicode letters and digits, so a non-ASCII word ("é", "狗") is a word too
    and a closed vocabulary refuses it instead of silently dropping it."""
    return re.findall(r"[^\W_]+", text.lower())


NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def normalize_prompt(text: str, known_words: frozenset[str]) -> str:
    """A prompt as a closed-vocabulary model reads it: its :func:`prompt_words` joined by single spaces, with a
    numeral 0–9 written as the model's word for it ("digit 3" → "digit three", and "a red 3" → "a red digit
    three" when the model knows "digit"). A prompt already in the model's words comes back unchanged."""
    out: list[str] = []
    for w in prompt_words(text):
        if len(w) == 1 and w.isdigit() and NUMBER_WORDS[int(w)] in known_words:
            if "digit" in known_words and (not out or out[-1] != "digit"):
                out.append("digit")
            w = NUMBER_WORDS[int(w)]
        out.append(w)
    return " ".join(out)


def _check_characters(name: str, texts: list[str]) -> None:
    """A closed vocabulary reads words and drops punctuation; any other character (an emoji, a symbol) would
    be dropped silently, so it is refused."""
    import string

    odd = sorted({c for t in texts for c in t if not (c.isalnum() or c.isspace() or c in string.punctuation)})
    if odd:
        raise DSDNInputError(f"{name} uses characters this model does not read: {' '.join(map(repr, odd))}. "
                             "Use words only (dsdn info --words lists them).")  # fmt: skip


def _unknown_words_error(name: str, unknown: list[str], known_words: frozenset[str]) -> DSDNInputError:
    import difflib

    def shown(word: str) -> str:
        near = difflib.get_close_matches(word, sorted(known_words), n=1, cutoff=0.75)
        return repr(word) + (f" (did you mean {near[0]!r}?)" if near else "")

    return DSDNInputError(
        f"{name} uses words this model does not know: {', '.join(map(shown, unknown))}. "
        f"It was trained on these words only: {', '.join(sorted(known_words))}."
    )


def read_vocabulary(base) -> frozenset[str] | None:
    """The closed vocabulary a base folder declares in ``dsdn_vocabulary.txt`` (``None``: open)."""
    path = Path(base) / VOCABULARY_FILE
    if not path.is_file():
        return None
    try:
        return frozenset(w for w in path.read_text(encoding="utf-8").split() if w)
    except UnicodeDecodeError as e:
        raise DSDNInputError(f"{str(path)!r} is not UTF-8 text ({e.reason} at byte {e.start}): the base folder is "
                             "damaged.") from None  # fmt: skip


def in_model_words(known_words: frozenset[str], **texts: list[str] | None) -> list[list[str] | None]:
    """Each named list of texts (``prompt=[...]``, ``negative_prompt=None``...) read in the model's words
    (:func:`normalize_prompt`), in the order given; a one-line error names a character or word the model
    does not read, or a prompt (other than the negative one) with no words left."""
    for name, values in texts.items():
        _check_characters(name, values or [])
    read = {name: None if values is None else [normalize_prompt(t, known_words) for t in values]
            for name, values in texts.items()}  # fmt: skip
    for name, values in read.items():
        unknown = sorted({w for t in values or [] for w in prompt_words(t)} - known_words)
        if unknown:
            raise _unknown_words_error(name, unknown, known_words)
        if name != "negative_prompt" and any(not t for t in values or []):
            original = texts[name]
            raise invalid(name, original[0] if len(original) == 1 else original, "has no words, only punctuation",
                          "Describe the video, e.g. 'a red ball moving left'.")  # fmt: skip
    return list(read.values())
