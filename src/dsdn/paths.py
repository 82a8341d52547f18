"""Where commands write: checks run before any work, so a bad output path fails in milliseconds.

A command's outputs are either one file (a JSON report, a Markdown table) or one folder (a run, a
judge, a benchmark). Both must not stand where something of the other kind is, and the nearest
folder that exists above them must be writable: what is missing below it is created later.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .errors import DSDNInputError


def writable_parent(name: str, path: Path) -> Path:
    """The nearest existing folder above ``path``; refused when it is a file or cannot be written."""
    parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise DSDNInputError(f"{name}={str(path)!r} cannot be written: {str(parent)!r} is not a writable folder.")
    return parent


def check_output_file(name: str, path: str | Path | None) -> Path | None:
    """A file the command will (re)write, e.g. ``--json``: not a folder, under a writable folder."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.is_dir():
        raise DSDNInputError(f"{name}={str(path)!r} is a folder: give a file name (e.g. {path / 'results.json'}).")
    if path.exists() and not os.access(path, os.W_OK):
        raise DSDNInputError(f"{name}={str(path)!r} is read-only: give another file name.")
    writable_parent(name, path)
    return path


def check_output_folder(name: str, path: str | Path | None) -> Path | None:
    """A folder the command writes into (a run, a judge): not a file, writable, or creatable."""
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise DSDNInputError(f"{name}={str(path)!r} is an existing file: give a folder name.")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise DSDNInputError(f"{name}={str(path)!r} is a read-only folder: give another one.")
    writable_parent(name, path)
    return path


def removes_new_folder_on_failure(folder_of: Callable[..., str | Path], keep: Callable[[Path], bool] | None = None):
    """Decorate a command's work function: when it fails (or is interrupted) and its output folder
    (``folder_of(*args, **kwargs)``) did not exist before, that folder is removed, unless ``keep(folder)``
    says it holds something worth keeping (e.g. a checkpoint to ``--resume`` from)."""

    def wrap(work: Callable) -> Callable:
        @functools.wraps(work)
        def run(*args, **kwargs):
            folder = Path(folder_of(*args, **kwargs)).expanduser()
            existed = folder.exists()
            try:
                return work(*args, **kwargs)
            except BaseException:
                if not existed and folder.is_dir() and not (keep is not None and keep(folder)):
                    shutil.rmtree(folder, ignore_errors=True)
                raise

        return run

    return wrap


def holds_checkpoints(folder: Path) -> bool:
    """A run folder with a checkpoint in it (or in a stage's ``checkpoints-*/``): kept to ``--resume`` from."""
    return any(folder.glob("checkpoint-*")) or any(folder.glob("checkpoints-*/checkpoint-*"))
