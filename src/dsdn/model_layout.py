"""A DSDN model folder's two layouts, told apart from its files alone (nothing heavy is imported, so a command can
check a prompt against the model's vocabulary before torch loads)."""

from __future__ import annotations

from pathlib import Path


def model_parts(path: Path) -> tuple[Path, Path | None]:
    """The adapter folder and the base folder (``None``: not saved with it) of a DSDN model folder: a pipeline
    folder (``model_index.json`` and ``adapter/``) is its own base; an adapter folder keeps its base in ``base/``
    when it was saved with it."""
    path = Path(path)
    if (path / "model_index.json").is_file() and (path / "adapter").is_dir():
        return path / "adapter", path
    return path, path / "base" if (path / "base").is_dir() else None


def adapter_folder(path: str | Path) -> Path:
    """The folder holding a DSDN model's ``config.json`` and weights (``~`` expanded), in either layout."""
    return model_parts(Path(path).expanduser())[0]
