"""Config fields that are also command-line options: a setting's default, help and flags are written once, on
its config dataclass, and its check once, in the dataclass's ``__post_init__``; ``dsdn``'s commands build their
options from these fields (:func:`dsdn.cli.common.config_command`). Imports nothing heavy, so ``dsdn --help``
stays fast."""

from __future__ import annotations

from dataclasses import MISSING, Field, field
from typing import Any

CLI_KEY = "dsdn_cli"


def option(default: Any = MISSING, doc: str = "", *, flags: tuple[str, ...] = (), name: str | None = None,
           comma_list: bool = False, multiple: bool = False, argument: bool = False) -> Any:  # fmt: skip
    """A dataclass field that is also a command-line option.

    Args:
        default: the field's default (none: the option is required).
        doc: the option's help text.
        flags: the option's flags when they are not the field's name with dashes (e.g. ``("--out", "-o")``, or
            ``("--freeze-text",)`` for a bool flag without a ``--no-`` form).
        name: the option's name when it is not the field's (``num_frames`` is ``--frames``).
        comma_list: a tuple of texts given on the command line as one comma-separated text.
        multiple: a tuple of texts given by repeating the option.
        argument: a positional argument instead of an option.
    """
    cli = {"doc": doc, "flags": tuple(flags), "name": name, "comma_list": comma_list, "multiple": multiple,
           "argument": argument}  # fmt: skip
    return field(default=default, metadata={CLI_KEY: cli})


def cli_fields(config_cls: type) -> list[tuple[Field, dict]]:
    """The fields of a config dataclass that are command-line options, each with its option's spec: the class's
    own fields first, then those it inherits (a command's main options lead its help), each in declared order."""
    from dataclasses import fields

    own = config_cls.__dict__.get("__annotations__", {})
    options = [(f, f.metadata[CLI_KEY]) for f in fields(config_cls) if CLI_KEY in f.metadata]
    return sorted(options, key=lambda item: item[0].name not in own)


def doc_of(config_cls: type, name: str) -> str:
    """The help text of the option field ``name`` of ``config_cls`` (for another command's option of the same
    meaning)."""
    return next(spec["doc"] for f, spec in cli_fields(config_cls) if f.name == name)


def option_like(config_cls: type, name: str) -> Any:
    """A field that is the same option as ``config_cls``'s option field ``name``: its default, help and flags (for
    another command's option of the same meaning)."""
    f, spec = next((f, spec) for f, spec in cli_fields(config_cls) if f.name == name)
    return option(f.default, spec["doc"], flags=spec["flags"])
