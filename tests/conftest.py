"""Shared tiny components: built in code, seeded, CPU only, no network."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

from dsdn import DSDNAdapter, DSDNPipeline
from dsdn.tiny import tiny_sd_components

# Under pytest-xdist (the README's `-n 2`) each worker has a core of its own.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)

SIZE = 16  # pixels; the tiny VAE has factor 2 and the tiny UNet one down-sampling: multiples of 4


def assert_same_frames(a, b, atol: float = 1e-5) -> None:
    """Two runs with the same seed give the same frames, up to float rounding.

    Not bit-identical: CPU kernels (MKL, oneDNN) may take another code path for a buffer that is
    aligned differently, so two runs in one process can differ in the last bits on some machines
    (CI saw it once). ``assert_frames_differ`` is the other half: a different seed moves the frames
    by far more than this tolerance.
    """
    import numpy as np

    np.testing.assert_allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=0, atol=atol)


def agrees(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6) -> bool:
    """Two computations that should agree do, up to float rounding (see ``assert_same_frames``)."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=atol)


def assert_frames_differ(a, b, atol: float = 1e-5) -> None:
    import numpy as np

    gap = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max()
    assert gap > 100 * atol, gap


@contextlib.contextmanager
def killed_after_checkpoint(step: int):
    """The run inside stops with ``KeyboardInterrupt`` right after its step-``step`` checkpoint is on disk
    (as a kill would; ``save_checkpoint`` is shared by ``dsdn train video`` and ``dsdn train peer``)."""
    import dsdn.training.runs as runs

    real_save = runs.save_checkpoint

    def save_then_die(out, at, *args, **kwargs):
        path = real_save(out, at, *args, **kwargs)
        if at == step:
            raise KeyboardInterrupt
        return path

    runs.save_checkpoint = save_then_die
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        runs.save_checkpoint = real_save


def run_script(path, *args: str) -> subprocess.CompletedProcess:
    """Run a repository script as ``python path args...`` would, but in this process: its ``__main__`` block
    runs with ``sys.argv`` and ``sys.path[0]`` set as Python sets them, stdout and stderr are captured, and
    ``SystemExit`` and uncaught errors become the return code (a message given to ``SystemExit`` goes to
    stderr). It spares each call the seconds a new interpreter spends importing torch and diffusers."""
    import io
    import runpy
    import sys
    import traceback

    out, err = io.StringIO(), io.StringIO()
    argv, path0 = sys.argv, list(sys.path)
    sys.argv, sys.path[:0] = [str(path), *map(str, args)], [str(Path(path).parent)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(str(path), run_name="__main__")
            except SystemExit as exit_:
                if isinstance(exit_.code, str):
                    print(exit_.code, file=sys.stderr)
                code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
            except Exception:  # noqa: BLE001 - as an interpreter would: the traceback, and exit status 1
                traceback.print_exc()
                code = 1
    finally:
        sys.argv, sys.path[:] = argv, path0
    return subprocess.CompletedProcess([str(path), *args], code, out.getvalue(), err.getvalue())


def make_pipeline(seed: int = 0, **adapter_kwargs) -> DSDNPipeline:
    components = tiny_sd_components(seed)
    adapter_kwargs.setdefault("motion_num_heads", 4)
    torch.manual_seed(seed + 1)
    adapter = DSDNAdapter.for_base(components["unet"], **adapter_kwargs)
    pipe = DSDNPipeline(**components, adapter=adapter)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def perturb_trained_parts_(pipe: DSDNPipeline, seed: int = 0) -> None:
    """Make LoRA B and interaction outputs non-zero, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in pipe.denoiser().trainable_parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)


@pytest.fixture
def pipe() -> DSDNPipeline:
    return make_pipeline()


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory):
    """A self-contained DSDN model folder (base included) with non-zero trained parts."""
    pipe = make_pipeline(seed=3)
    perturb_trained_parts_(pipe, seed=4)
    out = tmp_path_factory.mktemp("model")
    pipe.save_adapter(out, include_base=True)
    return out


def gen_kwargs(seed: int = 0, **kw) -> dict:
    base = dict(num_frames=4, height=SIZE, width=SIZE, num_inference_steps=3, output_type="np")
    base.update(kw)
    base["generator"] = torch.Generator().manual_seed(seed)
    return base


@pytest.fixture(scope="session")
def toy_base_dir(tmp_path_factory):
    """A tiny SD-format base trained for a few steps by ``dsdn train base`` at 32×32 (8×8 latents)."""
    from dsdn.training.base import BaseTrainConfig, train_base

    out = tmp_path_factory.mktemp("toy-base")
    cfg = BaseTrainConfig(
        out=str(out), vae_steps=3, vae_batch=4, unet_steps=3, unet_batch=4, latent_pool_clips=8, size=32,
        text_width=32, unet_channels=(16, 32, 32), vae_channels=(16, 16, 32),
    )  # fmt: skip
    return train_base(cfg, progress=False)
