"""The benchmark's trained peers (``dsdn train peer``): AnimateDiff-style motion modules and a single-stream 3D UNet."""

import dataclasses
import json
import logging
import shutil

import numpy as np
import pytest
import torch
from conftest import assert_same_frames, killed_after_checkpoint
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError
from dsdn.loading import base_fingerprint, load_base
from dsdn.peers import check_peer_base, peer_pipeline, read_peer
from dsdn.training import peers
from dsdn.training.peers import PeerTrainConfig, train_peer

runner = CliRunner()


def _train(kind, base, out, **kw):
    kw = {"steps": 4, "ema_decay": 0.0, **kw}
    cfg = PeerTrainConfig(kind=kind, base=str(base), out=str(out), toy_clips=8, num_frames=4, batch_size=2,
                          warmup_steps=1, **kw)  # fmt: skip
    return train_peer(cfg, progress=False)


def _retrained_copy(base, dest):
    """A copy of the base folder ``base`` whose UNet has one weight changed, as if trained further."""
    shutil.copytree(base, dest)
    path = dest / "unet" / "diffusion_pytorch_model.safetensors"
    weights = load_file(path)
    name = next(iter(weights))
    weights[name] = weights[name] + 1e-3
    save_file(weights, path)
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["animatediff", "unet3d"])
def test_peer_trains_saves_and_samples(kind, toy_base_dir, tmp_path):
    model = _train(kind, toy_base_dir, tmp_path / kind, steps=3)
    info = read_peer(model)
    assert info["kind"] == kind and info["steps"] == 3 and info["trainable_parameters"] > 0
    assert info["base_fingerprint"] == base_fingerprint(toy_base_dir)
    losses = [json.loads(line)["loss"] for line in (tmp_path / kind / "metrics.jsonl").read_text().splitlines()]
    assert losses and all(np.isfinite(losses))
    base = load_base(toy_base_dir)
    base_unet = {k: v.clone() for k, v in base["unet"].state_dict().items()}
    if kind == "animatediff":  # only the motion modules train: the saved file holds them and nothing of the base
        saved = load_file(model / "motion_adapter" / "diffusion_pytorch_model.safetensors")
        assert saved and all("motion_modules" in k for k in saved)
    else:  # every weight trains, starting from the base's spatial weights
        saved = load_file(model / "unet3d" / "diffusion_pytorch_model.safetensors")
        assert any(not torch.equal(saved[k], base_unet[k]) for k in saved if k in base_unet)
    pipe = peer_pipeline(model, base)
    pipe.set_progress_bar_config(disable=True)

    def sample(seed):
        return pipe("a red circle moving right", num_frames=4, num_inference_steps=2,
                    generator=torch.Generator().manual_seed(seed), output_type="np").frames[0]  # fmt: skip

    a = sample(0)
    assert a.shape == (4, 32, 32, 3) and 0.0 <= a.min() and a.max() <= 1.0
    assert_same_frames(a, sample(0))
    # The frozen base is not changed by sampling the AnimateDiff peer (from_unet2d copies it).
    assert all(torch.equal(v, base_unet[k]) for k, v in base["unet"].state_dict().items())


@pytest.mark.slow
def test_peer_resumes_after_a_kill_like_an_uninterrupted_run(toy_base_dir, tmp_path):
    kw = dict(steps=4, checkpoint_every=2, log_every=1, ema_decay=0.9)
    full = _train("animatediff", toy_base_dir, tmp_path / "full", **kw)
    cut = tmp_path / "cut"
    with killed_after_checkpoint(2):
        _train("animatediff", toy_base_dir, cut, **kw)
    with open(cut / "metrics.jsonl", "a") as f:  # as if killed after logging step 3
        f.write(json.dumps({"step": 3, "loss": 9.0, "lr": 0.0, "time_s": 1e6}) + "\n")
    with pytest.raises(DSDNInputError, match="--resume"):
        _train("animatediff", toy_base_dir, cut, **kw)
    model = _train("animatediff", toy_base_dir, cut, resume=True, **kw)
    assert read_peer(model)["steps"] == read_peer(full)["steps"] == 4
    name = "motion_adapter/diffusion_pytorch_model.safetensors"
    a, b = load_file(full / name), load_file(model / name)  # EMA weights: the EMA resumed too
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    curve = lambda run: [json.loads(s)["loss"] for s in (run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    np.testing.assert_allclose(curve(tmp_path / "full"), curve(cut), rtol=1e-5)


class _Clock:
    """A stand-in for ``time.perf_counter`` that advances 1/8 s per reading (dyadic: sums are exact).

    The peer loop reads the clock once per step to check its budget and once to log: 1/4 s per step."""

    def __init__(self):
        self.n = 0

    def perf_counter(self):
        self.n += 1
        return self.n / 8


@pytest.mark.parametrize(
    ("budget_steps", "expected"),
    [(23.75, 23),  # the probe's own 3 + 20 steps spend the budget: no step after it
     (30.5, 30),  # budget / seconds per step, rounded down
     (12.0, None)],  # the budget runs out during the probe
)  # fmt: skip
@pytest.mark.slow
def test_peer_stops_at_its_wall_clock_budget(toy_base_dir, tmp_path, monkeypatch, budget_steps, expected):
    monkeypatch.setattr(peers, "time", _Clock())
    model = _train("unet3d", toy_base_dir, tmp_path / "p", steps=10**6, budget_s=budget_steps / 4)
    info = read_peer(model)
    if expected is None:
        assert info["probe_seconds_per_step"] is None
        assert info["steps"] < peers.PROBE_WARMUP + peers.PROBE_STEPS
    else:
        assert info["probe_seconds_per_step"] == 0.25
        assert info["steps"] == expected


@pytest.mark.slow
def test_a_peer_is_refused_over_another_base_than_the_one_it_was_trained_on(toy_base_dir, tmp_path, caplog):
    peer = tmp_path / "peer"
    peer.mkdir()
    (peer / "peer.json").write_text(json.dumps({"kind": "unet3d", "base_fingerprint": base_fingerprint(toy_base_dir)}))
    moved = tmp_path / "moved"
    shutil.copytree(toy_base_dir, moved)
    check_peer_base(peer, moved)  # the same weights elsewhere: accepted
    with pytest.raises(DSDNInputError, match="trained on another base"):
        check_peer_base(peer, _retrained_copy(toy_base_dir, tmp_path / "retrained"))
    (peer / "peer.json").write_text(json.dumps({"kind": "unet3d"}))  # trained before fingerprints were recorded
    with caplog.at_level(logging.WARNING, logger="dsdn.peers"):
        check_peer_base(peer, moved)
    assert "records no base fingerprint" in caplog.text
    weights = moved / "unet" / "diffusion_pytorch_model.safetensors"  # a single-file base hashes the file
    assert base_fingerprint(weights) != base_fingerprint(moved) and len(base_fingerprint(weights)) == 16
    with pytest.raises(DSDNInputError, match="no weight files"):
        base_fingerprint(peer)


@pytest.mark.slow
def test_peer_errors_are_one_line(toy_base_dir, tmp_path):
    with pytest.raises(DSDNInputError, match="kind"):
        PeerTrainConfig(kind="sora")
    with pytest.raises(DSDNInputError, match="budget_s"):
        PeerTrainConfig(kind="unet3d", budget_s=-3)
    with pytest.raises(DSDNInputError, match="toy_motions applies to the toy world only"):
        PeerTrainConfig(kind="unet3d", data=str(tmp_path), toy_motions=("up",))
    assert PeerTrainConfig(kind="unet3d", toy_motions="up,down").toy_motions == ("up", "down")
    with pytest.raises(DSDNInputError, match="not a trained peer"):
        read_peer(tmp_path)
    (tmp_path / "peer.json").write_text("{oops")
    with pytest.raises(DSDNInputError, match="unreadable"):
        read_peer(tmp_path)
    res = runner.invoke(app, ["train", "peer", "--kind", "sora", "--out", str(tmp_path / "x"), "-q"])
    assert res.exit_code == 2 and "kind" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_benchmark_trains_a_missing_peer_with_its_budget(trained_model_dir, tmp_path, monkeypatch, caplog):
    from dsdn.evaluation.benchmark import BenchmarkSpec, run_benchmark
    from dsdn.evaluation.report import report_section

    seen = []
    real_train = peers.train_peer

    def small_train(cfg, progress=True):  # the spec's budget, on a handful of clips
        seen.append(cfg)
        return real_train(dataclasses.replace(cfg, toy_clips=4, num_frames=4, batch_size=2, size=32), progress=False)

    monkeypatch.setattr(peers, "train_peer", small_train)
    run = tmp_path / "peer-run"
    spec = BenchmarkSpec.from_dict({
        "prompts": ["a red circle moving right"], "seeds": [0], "steps": 2, "frames": 4,
        "methods": [{"name": "real", "kind": "real", "size": 32}, {"name": "DSDN", "kind": "dsdn", "model": str(trained_model_dir)},
                    {"name": "AnimateDiff-style", "kind": "animatediff", "model": str(run), "base": str(trained_model_dir / "base"),
                     "train_steps": 2}],
    })  # fmt: skip
    with pytest.raises(DSDNInputError, match="holds no trained model for 'AnimateDiff-style'"):
        run_benchmark(spec, tmp_path / "bench", progress=False)  # the evaluation alone never trains
    assert not seen
    summary = run_benchmark(spec, tmp_path / "bench", progress=False, train=peers.train_for_benchmark)
    assert [(c.steps, c.budget_s) for c in seen] == [(2, None)] and read_peer(run / "model")["kind"] == "animatediff"
    assert "AnimateDiff-style" in summary["methods"] and any("AnimateDiff-style" in line for line in summary["verdict"])
    # The report says how the peer it used was trained, from its peer.json.
    assert summary["trained_peers"]["AnimateDiff-style"]["steps"] == 2
    assert "AnimateDiff-style, 2 steps in" in report_section(summary)
    # An existing peer trained for other steps than the file's train_steps is used, with a warning.
    spec.methods[-1].options["train_steps"] = 5
    with caplog.at_level(logging.WARNING, logger="dsdn.evaluation.benchmark"):
        again = run_benchmark(spec, tmp_path / "bench-again", progress=False, train=peers.train_for_benchmark)
    assert len(seen) == 1 and again["trained_peers"]["AnimateDiff-style"]["steps"] == 2
    assert "trained for 2 steps, not the train_steps 5" in caplog.text
    # The same peer over a base it was not trained on is refused before it samples anything.
    spec.methods[-1].options["base"] = str(_retrained_copy(trained_model_dir / "base", tmp_path / "other-base"))
    with pytest.raises(DSDNInputError, match="trained on another base"):
        run_benchmark(spec, tmp_path / "bench-other-base", progress=False, train=peers.train_for_benchmark)
    assert len(seen) == 1
    # A peer without a model folder, or missing and without a budget, is refused with the command to run.
    with pytest.raises(DSDNInputError, match="needs model"):
        BenchmarkSpec.from_dict({"prompts": ["x"], "methods": [{"name": "u", "kind": "unet3d"}]})
    spec = BenchmarkSpec.from_dict({"prompts": ["a red circle moving right"], "seeds": [0], "steps": 1, "frames": 4,
                                    "methods": [{"name": "u", "kind": "unet3d", "model": str(tmp_path / "none")}]})  # fmt: skip
    with pytest.raises(DSDNInputError, match="neither train_steps"):
        run_benchmark(spec, tmp_path / "bench2", progress=False, train=peers.train_for_benchmark)


@pytest.mark.slow
def test_benchmark_trains_dsdn_on_the_peers_budget(toy_base_dir, tmp_path, monkeypatch, caplog):
    """A dsdn row with train_steps and an empty run folder is trained there with the shipped recipe,
    samples with the shipped γ and motion guidance, gets its own verdict, and the report gives its steps."""
    from dsdn.evaluation.benchmark import BenchmarkSpec, run_benchmark
    from dsdn.evaluation.report import report_section
    from dsdn.generate import default_model_dir

    seen = []
    real_train = peers.train_dsdn_like_shipped

    def small_train(out, steps, base=None, progress=True):  # the shipped recipe, on a handful of clips
        seen.append(steps)
        return real_train(out, steps, base=str(toy_base_dir), progress=False, toy_clips=4, batch_size=2, num_frames=4,
                          validate_every=0, checkpoint_every=1, warmup_steps=1)  # fmt: skip

    monkeypatch.setattr(peers, "train_dsdn_like_shipped", small_train)
    run = tmp_path / "dsdn-run"
    spec = BenchmarkSpec.from_dict({
        "prompts": ["a red circle moving right"], "seeds": [0], "steps": 2, "frames": 4,
        "methods": [{"name": "real", "kind": "real", "size": 32},
                    {"name": "short", "kind": "dsdn", "model": str(run), "train_steps": 2},
                    {"name": "frames", "kind": "framewise", "model": str(run / "model")}],
    })  # fmt: skip
    summary = run_benchmark(spec, tmp_path / "bench", progress=False, train=peers.train_for_benchmark)
    assert seen == [2]
    recipe = json.loads((run / "run.json").read_text())["config"]
    shipped = json.loads((default_model_dir() / "training" / "video_run.json").read_text())["config"]
    for key in ("lr", "ema_decay", "text_dropout", "lr_schedule", "combine_weight"):
        assert recipe[key] == shipped[key], key
    config, shipped_config = (json.loads((d / "config.json").read_text()) for d in (run / "model", default_model_dir()))
    for key in ("motion_coherence", "motion_guidance_scale"):
        assert config[key] == shipped_config[key]
    assert summary["trained_peers"]["short"]["steps"] == 2 and "short, 2 steps in" in report_section(summary)
    assert summary["verdict"][0].startswith("short's dynamic degree")
    assert summary["verdict"][1].startswith("short vs frames:")
    # Run again: the trained model is used as it is, with a warning when its steps differ from train_steps.
    spec.methods[1].options["train_steps"] = 7
    with caplog.at_level(logging.WARNING, logger="dsdn.evaluation.benchmark"):
        again = run_benchmark(spec, tmp_path / "bench-again", progress=False, train=peers.train_for_benchmark)
    assert seen == [2] and again["trained_peers"]["short"]["steps"] == 2
    assert "trained for 2 steps, not the train_steps 7" in caplog.text
    with pytest.raises(DSDNInputError, match="needs model"):
        BenchmarkSpec.from_dict({"prompts": ["x"], "methods": [{"name": "d", "kind": "dsdn", "train_steps": 3}]})
