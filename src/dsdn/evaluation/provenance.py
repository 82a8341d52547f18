"""Which model each benchmark row ran: its folder, the fingerprint of its weights, whether it is the shipped default
model, and the commit of the checkout the benchmark ran in (the report prints them, and says loudly when the DSDN
row is not the shipped model)."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def checkout_commit(where: str | Path | None = None) -> str | None:
    """The short commit of the git checkout holding ``where`` (default: this package), with ``+changes`` when files
    tracked there differ from it; None outside a git checkout (an installed wheel)."""
    cwd = Path(where) if where is not None else Path(__file__).parent
    commit = _git("rev-parse", "--short", "HEAD", cwd=cwd)
    if commit is None:
        return None
    dirty = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    return commit + ("+changes" if dirty else "")


def last_commit_of(path: str | Path) -> str | None:
    """The short commit that last changed the files under ``path`` in its git checkout; None when they are not
    committed (or outside a checkout)."""
    path = Path(path).resolve()
    return _git("log", "-1", "--format=%h", "--", ".", cwd=path if path.is_dir() else path.parent) or None


def model_record(folder: str | Path) -> dict:
    """``folder`` (a DSDN model, a trained peer or a base), the fingerprint of every weight file under it, whether
    those weights are the shipped default model's, and the commit that last changed them (None: not committed)."""
    from ..loading import base_fingerprint

    fingerprint = base_fingerprint(folder)
    return {"folder": _shown(Path(folder)), "fingerprint": fingerprint, "shipped": fingerprint == shipped_fingerprint(),
            "committed_in": last_commit_of(folder)}  # fmt: skip


def _shown(folder: Path) -> str:
    """``folder`` relative to the working folder when it lies under it (a report names no one's home folder)."""
    try:
        return folder.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(folder)


def code_fingerprint() -> str:
    """A short hash of dsdn's own source files: what a benchmark's kept scores also depend on."""
    import hashlib

    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for f in sorted(package.rglob("*.py")):
        digest.update(f.relative_to(package).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def shipped_fingerprint() -> str:
    """The fingerprint of the shipped default model's weights (computed once)."""
    from ..generate import default_model_dir
    from ..loading import base_fingerprint

    return base_fingerprint(default_model_dir())
