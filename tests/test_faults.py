"""Faults during training: kill -9 at random moments, a full disk while saving, a NaN loss."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import dsdn.training.runs as runs
import dsdn.training.video as tv
from dsdn.cli import app
from dsdn.training.runs import TRAINABLE_FILE, CheckpointWriteError, list_checkpoints, load_checkpoint
from dsdn.training.video import TrainingDiverged, VideoTrainConfig

STEPS = 10
KILLS = 4


def _train_cmd(base, out, resume):
    return [sys.executable, "-m", "dsdn", "train", "video", "--base", str(base), "--out", str(out), "--steps", str(STEPS),
            "--batch-size", "1", "--toy-clips", "4", "--checkpoint-every", "1", "--validate-every", "0", "-q",
            *(["--resume"] if resume else [])]  # fmt: skip


def _newest_step(out):
    found = list_checkpoints(out)
    return int(found[-1].name.split("-")[-1]) if found else -1


@pytest.mark.slow
def test_kill_9_at_random_moments_never_leaves_an_unloadable_checkpoint(toy_base_dir, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rng = np.random.default_rng(0)
    kills = 0
    while kills < KILLS:
        before = _newest_step(out)
        proc = subprocess.Popen(_train_cmd(toy_base_dir, out, resume=before >= 0), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 120
        while _newest_step(out) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # wait until this run has written a checkpoint of its own...
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(float(rng.uniform(0.0, 0.4)))  # ...then kill at a random moment of the steps and saves after it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        kills += 1
        newest = list_checkpoints(out)[-1]
        _, state, _ = load_checkpoint(newest)  # never half-written
        assert state["step"] == int(newest.name.split("-")[-1])
        if _newest_step(out) >= STEPS:
            break
    final = subprocess.run(
        _train_cmd(toy_base_dir, out, resume=True), env=env, capture_output=True, text=True, timeout=300
    )
    assert final.returncode == 0, final.stderr[-2000:]
    assert _newest_step(out) == STEPS and (out / "model" / "config.json").is_file()
    assert not [p.name for p in out.iterdir() if p.name.startswith((".tmp-", ".trash-"))]
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]  # every line whole
    assert STEPS in {r["step"] for r in logged if "loss" in r}


def _cfg(base, out, **kw):
    kw = {"toy_clips": 4, "steps": 4, "batch_size": 1, "checkpoint_every": 1, "validate_every": 0, **kw}
    return VideoTrainConfig(base=str(base), out=str(out), **kw)


@pytest.mark.slow
def test_full_disk_while_saving_keeps_the_previous_checkpoint(toy_base_dir, tmp_path, monkeypatch):
    from safetensors import torch as st

    real = st.save_file
    calls = {"n": 0}

    def flaky(tensors, filename, *a, **kw):
        calls["n"] += 1
        if "checkpoint-0000003" in str(filename):
            real(tensors, filename, *a, **kw)  # a partial file is on disk when the error comes
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, filename, *a, **kw)

    monkeypatch.setattr(st, "save_file", flaky)
    out = tmp_path / "run"
    with pytest.raises(
        CheckpointWriteError, match=r"step-3 checkpoint \(No space left on device\).*checkpoint-0000002.*intact"
    ):
        tv.train_video(_cfg(toy_base_dir, out), progress=False)
    assert [p.name for p in list_checkpoints(out)] == ["checkpoint-0000001", "checkpoint-0000002"]
    load_checkpoint(list_checkpoints(out)[-1])
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    monkeypatch.setattr(st, "save_file", real)
    tv.train_video(_cfg(toy_base_dir, out, resume=True), progress=False)
    assert _newest_step(out) == 4


@pytest.mark.slow
def test_nan_loss_stops_with_the_step_and_last_good_checkpoint(toy_base_dir, tmp_path, monkeypatch):
    import dsdn.objective as objective

    real = objective.dsdn_loss
    seen = {"n": 0}

    def poisoned(*a, **kw):
        parts = real(*a, **kw)
        seen["n"] += 1
        if seen["n"] == 3:  # the third step (index 2)
            parts.loss = parts.loss * torch.tensor(float("nan"))
        return parts

    monkeypatch.setattr(objective, "dsdn_loss", poisoned)
    with pytest.raises(
        TrainingDiverged, match=r"loss is nan at step 3; the last good checkpoint is .*checkpoint-0000002"
    ):
        tv.train_video(_cfg(toy_base_dir, tmp_path / "run"), progress=False)


@pytest.mark.slow
def test_cli_reports_a_full_disk_in_one_line(toy_base_dir, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(runs, "_fsync_dir", full)
    res = CliRunner().invoke(app, ["train", "video", "--base", str(toy_base_dir), "--out", str(tmp_path / "r"), "--steps",
                                   "2", "--batch-size", "1", "--toy-clips", "2", "--checkpoint-every", "1",
                                   "--validate-every", "0", "-q"])  # fmt: skip
    assert res.exit_code == 1 and "No space left on device" in res.output and "no earlier checkpoint" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # a failed run without a checkpoint leaves no folder behind


@pytest.mark.slow
def test_resume_skips_a_damaged_newest_checkpoint_and_says_so(toy_base_dir, tmp_path, caplog):
    out = tmp_path / "run"
    tv.train_video(_cfg(toy_base_dir, out, steps=3), progress=False)
    newest = list_checkpoints(out)[-1]
    weights = newest / TRAINABLE_FILE
    weights.write_bytes(weights.read_bytes()[:200])  # a torn write
    with caplog.at_level("WARNING", logger="dsdn.training.video"):
        tv.train_video(_cfg(toy_base_dir, out, steps=4, resume=True), progress=False)
    assert any("skipped checkpoint" in r.message and newest.name in r.message for r in caplog.records)
    assert _newest_step(out) == 4
    _, state, _ = load_checkpoint(list_checkpoints(out)[-1])
    assert state["step"] == 4


@pytest.mark.slow
def test_resume_with_no_loadable_checkpoint_is_one_clear_error(toy_base_dir, tmp_path):
    out = tmp_path / "run"
    tv.train_video(_cfg(toy_base_dir, out, steps=2), progress=False)
    for ckpt in list_checkpoints(out):
        (ckpt / TRAINABLE_FILE).write_bytes(b"")
    with pytest.raises(tv.DSDNInputError, match=r"none of the 2 checkpoint\(s\) in .* loads"):
        tv.train_video(_cfg(toy_base_dir, out, steps=4, resume=True), progress=False)


@pytest.mark.slow
def test_a_failed_run_removes_the_folder_it_created_but_never_a_users(toy_base_dir, tmp_path, monkeypatch):
    import dsdn.objective as objective
    import dsdn.training.base as tb

    def broken(*a, **kw):
        raise RuntimeError("broken")

    monkeypatch.setattr(objective, "dsdn_loss", broken)
    with pytest.raises(RuntimeError):
        tv.train_video(_cfg(toy_base_dir, tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()  # created by the run, nothing to resume from: removed
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(RuntimeError):
        tv.train_video(_cfg(toy_base_dir, mine), progress=False)
    assert mine.is_dir()  # it existed before the run: kept
    monkeypatch.setattr(tb, "build_tiny_base", broken)
    with pytest.raises(RuntimeError):
        tb.train_base(tb.BaseTrainConfig(out=str(tmp_path / "base")), progress=False)
    assert not (tmp_path / "base").exists()
