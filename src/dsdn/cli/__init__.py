"""``dsdn`` command line: thin wrappers that parse arguments, build a config and call the library.

Each group of commands has its module (``generate``, ``train``, ``evaluate``, ``benchmark``, ``info``); importing
this package registers them all on :data:`app`, in the order ``dsdn --help`` lists them.
"""

from __future__ import annotations

import sys

from .common import app

# isort: off
# Importing a module registers its commands, in the order `dsdn --help` lists them.
from . import generate, train, evaluate, benchmark, info  # noqa: F401, E402
# isort: on

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
