"""What every training run shares: checkpoint folders, the metrics log, per-step seeds and the device.

Checkpoints are folders ``checkpoint-NNNNNNN`` written under a temporary name and renamed into place (a crash
never leaves a half-written newest checkpoint); only the last ``keep`` are kept. Every random draw of step ``k``
on process ``r`` is seeded from ``(seed, k, r)`` (:func:`step_seed`), so a resumed run follows the same curve.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path, PosixPath, WindowsPath

import numpy as np
import torch

from ..errors import DSDNInputError, DSDNRunError

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
TRAINABLE_FILE = "trainable.safetensors"
EMA_FILE = "ema.safetensors"
STATE_FILE = "state.pt"


class CheckpointWriteError(DSDNRunError, OSError):
    """A checkpoint could not be written (e.g. the disk is full); earlier checkpoints are intact."""


def list_checkpoints(out: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary folders are ignored)."""
    out = Path(out)
    if not out.is_dir():
        return []
    found = [p for p in out.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)]
    return sorted(found, key=lambda p: int(p.name[len(CHECKPOINT_PREFIX) :]))


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def save_checkpoint(out: Path, step: int, trainable: dict, optimizer, lr_scheduler, ema=None, extra: dict | None = None,
                    keep: int = 3) -> Path:  # fmt: skip
    """Write ``out/checkpoint-<step>`` atomically (temp folder + rename) and prune to the last ``keep``.

    A kill at any moment leaves every listed checkpoint complete: files are written and fsynced in a
    temporary folder that only a rename makes visible, and a checkpoint is first renamed away before
    it is deleted (re-saving a step, pruning). If writing fails (e.g. the disk is full), the
    temporary folder is removed, the earlier checkpoints are untouched, and the error names them.
    """
    from safetensors.torch import save_file

    final = out / f"{CHECKPOINT_PREFIX}{step:07d}"
    tmp = out / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in trainable.items()}, tmp / TRAINABLE_FILE)
        if ema is not None:
            save_file({f"{i}": p.detach().contiguous().cpu() for i, p in enumerate(ema.shadow_params)}, tmp / EMA_FILE)
        torch.save(
            {
                "step": step,
                "optimizer": optimizer.state_dict(),
                **({} if lr_scheduler is None else {"lr_scheduler": lr_scheduler.state_dict()}),
                **(extra or {}),
            },
            tmp / STATE_FILE,
        )
        _fsync_dir(tmp)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        previous = list_checkpoints(out)
        kept = (
            f"the last complete checkpoint, {previous[-1]}, is intact" if previous else "no earlier checkpoint exists"
        )
        raise CheckpointWriteError(
            f"could not write the step-{step} checkpoint ({e.strerror or e}); {kept}. Free disk space, then --resume."
        ) from e
    if final.exists():  # re-saving the same step (e.g. after a resume): move the old one away first
        _discard(final)
    os.replace(tmp, final)
    for old in list_checkpoints(out)[:-keep]:
        _discard(old)
    return final


def _discard(path: Path) -> None:
    """Delete a folder so that no half-deleted checkpoint is ever listed: rename it away, then remove it."""
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}")
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def remove_stale_temporaries(out: Path) -> list[str]:
    """Remove temporary and half-deleted folders left by a killed run; returns their names."""
    if not Path(out).is_dir():
        return []
    stale = [p for p in Path(out).iterdir() if p.is_dir() and p.name.startswith((".tmp-", ".trash-"))]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in stale]


def load_checkpoint(path: Path) -> tuple[dict, dict, dict | None]:
    """``(trainable weights, state, ema weights or None)`` of a checkpoint folder (no pickled code is run)."""
    from safetensors.torch import load_file

    trainable = load_file(path / TRAINABLE_FILE)
    # Checkpoints of --init-from runs written before plain_config hold a path in their adapter config; pathlib
    # classes only build paths, so allowing them runs no code.
    with torch.serialization.safe_globals([PosixPath, WindowsPath]):
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    state["adapter_config"] = plain_config(state.get("adapter_config", {}))
    ema = load_file(path / EMA_FILE) if (path / EMA_FILE).is_file() else None
    return trainable, state, ema


def load_newest_checkpoint(checkpoints: list[Path]) -> tuple[Path, dict, dict, dict | None]:
    """``(folder, trainable, state, ema)`` of the newest checkpoint that loads. A damaged one (a torn write, a
    bad disk) is skipped with a warning naming it, and the next older one is tried."""
    for path in reversed(checkpoints):
        try:
            return (path, *load_checkpoint(path))
        except Exception as e:  # safetensors, torch.load and the file system raise many types
            logger.warning("skipped checkpoint %s: it does not load (%s: %s)", path, type(e).__name__,
                           (str(e).splitlines() or [""])[0][:200])  # fmt: skip
    raise DSDNInputError(
        f"none of the {len(checkpoints)} checkpoint(s) in {checkpoints[0].parent} loads (see the warnings): start "
        "again without --resume in a new --out."
    )


def plain_config(config) -> dict:
    """An adapter config as plain data, without diffusers' bookkeeping keys (``_name_or_path`` is a ``Path``
    for a model loaded from a folder, which ``torch.load(weights_only=True)`` would refuse)."""
    return {k: v for k, v in dict(config).items() if not k.startswith("_")}


def keep_metrics_until(path: Path, step: int, rewrite: bool = True) -> float:
    """On resume from ``step``: drop the records a killed run logged after it (they are trained again), so
    ``metrics.jsonl`` stays one curve; returns the last kept ``time_s``, so that time runs on across segments.
    Every process reads the same offset; only the one with ``rewrite`` writes the file."""
    return keep_log_records(path, lambda record: record.get("step", 0) <= step, rewrite)


def keep_log_records(path: Path, keep, rewrite: bool = True) -> float:
    """Keep the JSON-lines records of ``path`` for which ``keep(record)`` holds (lines cut short by a kill are
    dropped); returns the last kept ``time_s`` (0 when none). Only with ``rewrite`` is the file rewritten."""
    from ..video_io import atomic_write_text

    if not path.is_file():
        return 0.0
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the kill
            continue
        if keep(record):
            kept.append((line, record))
    if rewrite:
        atomic_write_text(path, "".join(f"{line}\n" for line, _ in kept))
    return max((r["time_s"] for _, r in kept if r.get("time_s") is not None), default=0.0)


def step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.default_rng([seed, step, rank]).integers(2**62))
