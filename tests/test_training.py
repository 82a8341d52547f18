"""Training: the tiny base loads in diffusers, DSDN learns, checkpoints resume exactly, DDP runs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import killed_after_checkpoint
from safetensors.torch import load_file

import dsdn.objective as tv_objective
from dsdn.errors import DSDNInputError
from dsdn.pipeline import DSDNPipeline
from dsdn.training.data import build_dataset
from dsdn.training.runs import EMA_FILE, TRAINABLE_FILE, list_checkpoints, load_checkpoint
from dsdn.training.validation import pipeline_from_checkpoint
from dsdn.training.video import VideoTrainConfig, train_video


def test_trained_base_loads_in_diffusers_stable_diffusion_pipeline(toy_base_dir):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(toy_base_dir, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red circle", num_inference_steps=2, height=32, width=32, output_type="np").images
    assert image.shape == (1, 32, 32, 3) and np.isfinite(image).all()
    assert "circle" in (toy_base_dir / "dsdn_vocabulary.txt").read_text().split()
    # the tokenizer knows every toy-world word as one token: nothing falls back to bytes
    ids = pipe.tokenizer("a yellow digit seven is moving to the left quickly").input_ids
    assert len(ids) == 2 + 10
    # its log ends the text stage with how well the text states tell the direction words apart
    logs = [json.loads(line) for line in (toy_base_dir / "train_log.jsonl").read_text().splitlines()]
    dprime = next(r["direction_dprime"] for r in logs if "direction_dprime" in r)
    assert set(dprime) == {"up/down", "left/right"}
    assert all(v[k] > 0 for v in dprime.values() for k in ("states", "token_mean"))


def test_direction_dprime_measures_how_well_the_states_tell_two_words_apart():
    from dsdn.evaluation.words import direction_dprime

    g = torch.Generator().manual_seed(0)

    def encoder(reads_the_word: bool):
        def encode(captions):  # (B, 1, 2): a word feature (or none) plus what the other words cause
            word = torch.tensor([float(reads_the_word and "up" in c.split()) for c in captions])
            return torch.stack([word + 0.1 * torch.randn(len(captions), generator=g),
                                torch.randn(len(captions), generator=g)], dim=1)[:, None]  # fmt: skip

        return encode

    reads, blind = direction_dprime(encoder(True), "up", "down"), direction_dprime(encoder(False), "up", "down")
    assert reads["states"] > 5 and reads["token_mean"] > 5
    assert blind["states"] < 1 and blind["token_mean"] < 1


def _cfg(base, out, **kw):
    kw = {"toy_clips": 6, "steps": 4, "batch_size": 2, "checkpoint_every": 2, "validate_every": 0, "log_every": 1,
          "warmup_steps": 1, "lr": 1e-3, **kw}  # fmt: skip
    return VideoTrainConfig(base=str(base), out=str(out), **kw)


def _trainable(run):
    return load_file(list_checkpoints(run)[-1] / TRAINABLE_FILE)


@pytest.mark.slow
@pytest.mark.parametrize("checkpointing", [False, True])
def test_training_reduces_the_loss_on_a_fixed_batch(toy_base_dir, tmp_path, checkpointing):
    # one clip, trained on repeatedly: the loss at a fixed seed must go down (with gradient checkpointing too: both
    # UNets' blocks recomputed in the backward pass, the motion UNet's included)
    cfg = _cfg(toy_base_dir, tmp_path / "run", toy_clips=1, steps=30, checkpoint_every=30, text_dropout=0.0, lr=3e-3,
               gradient_checkpointing=checkpointing)  # fmt: skip
    train_video(cfg, progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5])


@pytest.mark.slow
def test_resume_after_interruption_matches_an_uninterrupted_run(toy_base_dir, tmp_path):
    full = tmp_path / "full"
    model = train_video(_cfg(toy_base_dir, full, ema_decay=0.9), progress=False)
    assert (model / "config.json").is_file() and (model / "base" / "dsdn_vocabulary.txt").is_file()

    # Interrupt a second run right after its step-2 checkpoint is on disk.
    cut = tmp_path / "cut"
    with killed_after_checkpoint(2):
        train_video(_cfg(toy_base_dir, cut, ema_decay=0.9), progress=False)
    assert [p.name for p in list_checkpoints(cut)] == ["checkpoint-0000002"]
    _, state, _ = load_checkpoint(list_checkpoints(cut)[-1])
    assert state["step"] == 2 and state["optimizer"]["state"] and state["lr_scheduler"]["last_epoch"] == 2

    # as if the kill had come one logged step after the checkpoint, mid-way through writing the next line
    with open(cut / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 3, "loss": 9.0, "time_s": 1e6}) + "\n" + '{"step": 4, "lo')

    with pytest.raises(DSDNInputError, match="--resume"):
        train_video(_cfg(toy_base_dir, cut, ema_decay=0.9), progress=False)
    train_video(_cfg(toy_base_dir, cut, ema_decay=0.9, resume=True), progress=False)

    a, b = _trainable(full), _trainable(cut)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    ea, eb = (load_file(list_checkpoints(r)[-1] / EMA_FILE) for r in (full, cut))
    for k in ea:
        torch.testing.assert_close(ea[k], eb[k], rtol=0, atol=1e-6)
    curve = lambda run: [json.loads(s)["loss"] for s in (run / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    np.testing.assert_allclose(curve(full), curve(cut), rtol=1e-5)  # one curve: the killed run's extra lines are gone
    times = [json.loads(s)["time_s"] for s in (cut / "metrics.jsonl").read_text().splitlines()]
    assert times == sorted(times) and times[2] >= times[1] > 0  # time runs on across the resume
    # the newest checkpoints are kept, older ones pruned; no temporary folders remain
    assert [p.name for p in list_checkpoints(cut)] == ["checkpoint-0000002", "checkpoint-0000004"]
    assert not [p for p in cut.iterdir() if p.name.startswith(".tmp")]
    run = json.loads((cut / "run.json").read_text())
    assert run["resolved"]["resumed_from_step"] == 2 and run["config"]["seed"] == 0 and "torch" in run["versions"]
    assert json.loads((model / "config.json").read_text())["toy_world"] == "v1"  # what the evaluation judges it as


@pytest.mark.slow
def test_stop_at_ends_a_run_early_on_its_schedule_and_resume_goes_on_as_if_never_stopped(toy_base_dir, tmp_path):
    with pytest.raises(DSDNInputError, match="stop_at"):
        VideoTrainConfig(base="unused", steps=4, stop_at=5)
    full, part = tmp_path / "full", tmp_path / "part"
    train_video(_cfg(toy_base_dir, full, ema_decay=0.9, checkpoint_every=1, keep_checkpoints=4), progress=False)
    model = train_video(_cfg(toy_base_dir, part, ema_decay=0.9, checkpoint_every=3, stop_at=2), progress=False)
    assert [p.name for p in list_checkpoints(part)] == ["checkpoint-0000002"]  # a checkpoint where it stops
    _, state, _ = load_checkpoint(list_checkpoints(part)[-1])
    assert (
        state["lr_scheduler"]["_last_lr"] == load_checkpoint(list_checkpoints(full)[1])[1]["lr_scheduler"]["_last_lr"]
    )  # the 4-step schedule's learning rate at step 2, not the end of a 2-step one
    saved = load_file(model / "diffusion_pytorch_model.safetensors")
    ema = pipeline_from_checkpoint(str(toy_base_dir), list_checkpoints(part)[-1]).adapter.state_dict()
    raw = pipeline_from_checkpoint(str(toy_base_dir), list_checkpoints(part)[-1], use_ema=False).adapter.state_dict()
    assert saved.keys() <= ema.keys() and all(torch.equal(saved[k], ema[k]) for k in saved)  # model/: the EMA weights
    assert not all(torch.equal(saved[k], raw[k]) for k in saved)
    run_json = (part / "run.json").read_text()
    with pytest.raises(DSDNInputError, match="stop-at 2"):
        train_video(_cfg(toy_base_dir, part, ema_decay=0.9, checkpoint_every=3, stop_at=1, resume=True), progress=False)
    assert (part / "run.json").read_text() == run_json  # refused before anything is written
    train_video(_cfg(toy_base_dir, part, ema_decay=0.9, checkpoint_every=3, resume=True), progress=False)
    a, b = _trainable(full), _trainable(part)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


@pytest.mark.slow
def test_init_from_starts_from_a_trained_model_and_refuses_a_foreign_one(toy_base_dir, trained_model_dir, tmp_path):
    first = train_video(_cfg(toy_base_dir, tmp_path / "first", steps=2, checkpoint_every=2), progress=False)
    lora_b = {k: v for k, v in load_file(first / "pytorch_lora_weights.safetensors").items() if "lora_B" in k}
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b.values())  # trained: not the preset's zero increment
    # one step at the start of the warm-up (learning rate 0 there): the model is exactly the one it started from
    again = train_video(
        _cfg(toy_base_dir, tmp_path / "again", steps=1, checkpoint_every=1, warmup_steps=10, init_from=str(first)),
        progress=False,
    )
    for name in ("diffusion_pytorch_model.safetensors", "pytorch_lora_weights.safetensors"):
        a, b = load_file(first / name), load_file(again / name)
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert json.loads((tmp_path / "again" / "run.json").read_text())["config"]["init_from"] == str(first)
    # a fine-tuning run resumes from its own checkpoint (its adapter config came from a folder: no paths in it)
    _, state, _ = load_checkpoint(list_checkpoints(tmp_path / "again")[-1])
    assert not any(k.startswith("_") for k in state["adapter_config"])
    train_video(
        _cfg(toy_base_dir, tmp_path / "again", steps=2, checkpoint_every=1, init_from=str(first), resume=True),
        progress=False,
    )
    assert json.loads((tmp_path / "again" / "run.json").read_text())["resolved"]["resumed_from_step"] == 1
    # not a model folder, or a model of another base: a clear error, and no run folder is left behind
    with pytest.raises(DSDNInputError, match="not a DSDN model folder"):
        train_video(_cfg(toy_base_dir, tmp_path / "bad", init_from=str(tmp_path)), progress=False)
    with pytest.raises(DSDNInputError, match="level widths"):
        train_video(_cfg(toy_base_dir, tmp_path / "other", init_from=str(trained_model_dir)), progress=False)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "other").exists()


@pytest.mark.slow
def test_a_fine_tune_without_the_content_lora_trains_only_the_motion_parts(toy_base_dir, tmp_path):
    first = train_video(_cfg(toy_base_dir, tmp_path / "first", steps=2, checkpoint_every=2), progress=False)
    kept = train_video(
        _cfg(
            toy_base_dir, tmp_path / "kept", steps=2, checkpoint_every=1, init_from=str(first), train_content_lora=False
        ),
        progress=False,
    )
    a, b = load_file(first / "pytorch_lora_weights.safetensors"), load_file(kept / "pytorch_lora_weights.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    a, b = (
        load_file(first / "diffusion_pytorch_model.safetensors"),
        load_file(kept / "diffusion_pytorch_model.safetensors"),
    )
    assert any(not torch.equal(a[k], b[k]) for k in a)  # the motion stream and interaction learned
    run = json.loads((tmp_path / "kept" / "run.json").read_text())
    full = json.loads((tmp_path / "first" / "run.json").read_text())
    assert 0 < run["resolved"]["trainable_parameters"] < full["resolved"]["trainable_parameters"]
    with pytest.raises(DSDNInputError, match="train_content_lora=False"):
        train_video(
            _cfg(toy_base_dir, tmp_path / "kept", steps=3, checkpoint_every=1, init_from=str(first), resume=True),
            progress=False,
        )


@pytest.mark.slow
def test_trained_model_generates_and_refuses_unknown_words(toy_base_dir, tmp_path):
    model = train_video(_cfg(toy_base_dir, tmp_path / "run", steps=1, checkpoint_every=1), progress=False)
    pipe = DSDNPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    kw = dict(num_frames=4, num_inference_steps=2, output_type="np")
    out = pipe("a red circle moving right", generator=torch.Generator().manual_seed(0), **kw).frames
    assert out.shape == (1, 4, 32, 32, 3)
    # the last checkpoint is the same model as the final folder
    ckpt = pipeline_from_checkpoint(str(toy_base_dir), list_checkpoints(tmp_path / "run")[-1])
    ckpt.set_progress_bar_config(disable=True)
    same = ckpt("a red circle moving right", generator=torch.Generator().manual_seed(0), **kw).frames
    np.testing.assert_allclose(out, same, atol=1e-6)
    with pytest.raises(DSDNInputError, match=r"does not know: 'dog', 'purple'.*trained on these words only: .*circle"):
        pipe("a purple dog moving right", num_frames=4, num_inference_steps=2)


@pytest.mark.slow
def test_two_process_gloo_run(toy_base_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
           "-m", "dsdn", "train", "video", "--base", str(toy_base_dir), "--out", str(out), "--steps", "2",
           "--batch-size", "1", "--toy-clips", "4", "--validate-every", "0", "--checkpoint-every", "2", "-q"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = json.loads((out / "run.json").read_text())
    assert run["resolved"]["processes"] == 2
    assert (out / "model" / "config.json").is_file() and list_checkpoints(out)


@pytest.mark.slow
def test_token_identity_term_keeps_motion_words_apart_in_the_text_encoder():
    """Still frames carry no motion: without the token term, denoising alone collapses the
    text states of "up"/"down"/"left"/"right" towards each other; with it they stay apart."""
    from dsdn.data.toy_world import ToyWorld, vocabulary
    from dsdn.evaluation.words import word_separation
    from dsdn.training.base import BaseTrainConfig, build_tiny_base, train_text_unet

    seps = {}
    for weight in (0.0, 1.0):
        cfg = BaseTrainConfig(
            out="unused", unet_steps=40, unet_batch=8, unet_lr=3e-3, latent_pool_clips=16, size=32, text_width=32,
            unet_channels=(16, 32, 32), vae_channels=(16, 16, 32), text_token_weight=weight, device="cpu",
        )  # fmt: skip
        parts = build_tiny_base(cfg, vocabulary())
        start = word_separation(parts["text_encoder"].eval(), parts["tokenizer"])
        logs = []
        train_text_unet(parts, ToyWorld("train", 100, size=32), cfg, logs.append, progress=False)
        seps[weight] = word_separation(parts["text_encoder"], parts["tokenizer"])
        if weight:
            assert logs[-1]["token_loss"] < 0.7 * logs[0]["token_loss"]
    assert seps[0.0]["direction"] < 0.5 * start["direction"]  # the collapse this term exists for
    assert seps[1.0]["direction"] > 0.9 * start["direction"]
    assert seps[1.0]["direction"] > 3 * seps[0.0]["direction"]
    assert not os.path.exists("unused")  # a stage run on its own writes no checkpoint (train_base's stages do)


@pytest.mark.slow
def test_bag_of_words_term_is_learned_and_d_prime_is_logged_during_training():
    """--text-bow-weight: the caption's words become readable from the mean of its states;
    --dprime-every: the direction words' d' is logged between steps, not only at the end."""
    from dsdn.data.toy_world import ToyWorld, vocabulary
    from dsdn.training.base import BaseTrainConfig, build_tiny_base, train_text_unet

    cfg = BaseTrainConfig(
        out="unused", unet_steps=40, unet_batch=8, unet_lr=3e-3, latent_pool_clips=16, size=32, text_width=32,
        unet_channels=(16, 32, 32), vae_channels=(16, 16, 32), text_bow_weight=1.0, dprime_every=20, device="cpu",
    )  # fmt: skip
    parts = build_tiny_base(cfg, vocabulary())
    logs = []
    train_text_unet(parts, ToyWorld("train", 100, size=32), cfg, logs.append, progress=False)
    bow = [r["bow_loss"] for r in logs if "bow_loss" in r]
    assert bow[-1] < 0.8 * bow[0]  # from log(vocabulary) towards the entropy of a caption's words
    dprimes = [r for r in logs if "direction_dprime" in r]
    assert [r["step"] for r in dprimes] == [20]  # the final figure is train_base's to log
    assert set(dprimes[0]["direction_dprime"]) == {"up/down", "left/right"}
    assert parts["text_encoder"].training is False


@pytest.mark.slow
def test_the_base_can_take_its_vae_from_another_base(toy_base_dir, tmp_path):
    from dsdn.training.base import BaseTrainConfig, train_base

    cfg = BaseTrainConfig(
        out=str(tmp_path / "b"), unet_steps=2, unet_batch=4, latent_pool_clips=8, size=32, text_width=32,
        unet_channels=(16, 32, 32), vae_from=str(toy_base_dir),
    )  # fmt: skip
    out = train_base(cfg, progress=False)
    ours, theirs = (load_file(str(d / "vae" / "diffusion_pytorch_model.safetensors")) for d in (out, toy_base_dir))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    stages = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert not any(r["stage"] == "vae" and "step" in r for r in stages)
    with pytest.raises(DSDNInputError, match="vae_from"):
        BaseTrainConfig(vae_from=str(tmp_path))


@pytest.mark.slow
def test_a_pooled_text_base_runs_in_diffusers_and_under_dsdn(toy_base_dir, tmp_path):
    """``--pooled-text`` (and ``--snr-gamma``): the base stays a plain SD folder, and DSDN trains and samples on it."""
    from diffusers import StableDiffusionPipeline

    from dsdn.training.base import BaseTrainConfig, train_base

    cfg = BaseTrainConfig(
        out=str(tmp_path / "b"), unet_steps=2, unet_batch=4, latent_pool_clips=8, size=32, text_width=32,
        unet_channels=(16, 32, 32), vae_from=str(toy_base_dir), pooled_text=True, snr_gamma=5.0,
    )  # fmt: skip
    base = train_base(cfg, progress=False)
    sd = StableDiffusionPipeline.from_pretrained(base, local_files_only=True)
    assert sd.unet.config.addition_embed_type == "text"
    sd.set_progress_bar_config(disable=True)
    assert np.isfinite(sd("a red circle", num_inference_steps=2, height=32, width=32, output_type="np").images).all()
    model = train_video(_cfg(base, tmp_path / "run", steps=1, checkpoint_every=1), progress=False)
    pipe = DSDNPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    frames = pipe("a red circle moving right", num_frames=4, num_inference_steps=2, output_type="np").frames
    assert frames.shape == (1, 4, 32, 32, 3) and np.isfinite(frames).all()


def _tiny_base_config(out, **kw):
    from dsdn.training.base import BaseTrainConfig

    kw = {
        "vae_steps": 3,
        "vae_batch": 4,
        "unet_steps": 6,
        "unet_batch": 4,
        "checkpoint_every": 2,
        "latent_pool_clips": 8,
        "size": 32,
        "text_width": 32,
        "unet_channels": (16, 32, 32),
        "vae_channels": (16, 16, 32),
        **kw,
    }
    return BaseTrainConfig(out=str(out), **kw)


def _weights(base_dir):
    return {f"{part}.{k}": v for part in ("vae", "text_encoder", "unet")
            for k, v in load_file(str(next((base_dir / part).glob("*.safetensors")))).items()}  # fmt: skip


@pytest.mark.slow
def test_base_training_resumes_in_either_stage_as_if_never_stopped(tmp_path):
    from dsdn.training.base import train_base

    full = train_base(_tiny_base_config(tmp_path / "full"), progress=False)
    cut = tmp_path / "cut"
    with killed_after_checkpoint(2):  # in the VAE stage (3 steps)
        train_base(_tiny_base_config(cut), progress=False)
    with pytest.raises(DSDNInputError, match="--resume"):
        train_base(_tiny_base_config(cut), progress=False)
    with pytest.raises(DSDNInputError, match="other settings .*unet_lr"):
        train_base(_tiny_base_config(cut, resume=True, unet_lr=1e-3), progress=False)
    with pytest.raises(DSDNInputError, match="other settings .*shape_share"):
        train_base(_tiny_base_config(cut, resume=True, shape_share=0.5), progress=False)
    with killed_after_checkpoint(4):  # in the text+UNet stage (6 steps)
        train_base(_tiny_base_config(cut, resume=True), progress=False)
    train_base(_tiny_base_config(cut, resume=True), progress=False)
    a, b = _weights(full), _weights(cut)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    records = [json.loads(line) for line in (cut / "train_log.jsonl").read_text().splitlines()]
    uninterrupted = [json.loads(line) for line in (full / "train_log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in records if "loss" in r] == [
        (r["stage"], r["step"]) for r in uninterrupted if "loss" in r
    ]  # one curve: no step logged twice
    np.testing.assert_allclose([r["loss"] for r in records if "loss" in r],
                               [r["loss"] for r in uninterrupted if "loss" in r], rtol=1e-5)  # fmt: skip
    assert [r["stage"] for r in records].count("done") == 1


@pytest.mark.slow
def test_base_resume_skips_a_damaged_newest_checkpoint(tmp_path, caplog):
    from dsdn.training.base import train_base

    out = tmp_path / "b"
    with killed_after_checkpoint(4):
        train_base(_tiny_base_config(out, checkpoint_every=1, vae_steps=2), progress=False)
    newest = list_checkpoints(out / "checkpoints-unet")[-1]
    assert newest.name.endswith("4")
    (newest / TRAINABLE_FILE).write_bytes(b"not a safetensors file")
    train_base(_tiny_base_config(out, checkpoint_every=1, vae_steps=2, resume=True), progress=False)
    assert "cannot be read" in caplog.text and (out / "model_index.json").is_file()


@pytest.mark.slow
def test_base_training_continues_from_another_base_and_refuses_a_foreign_one(toy_base_dir, tmp_path):
    import shutil

    from safetensors.torch import save_file

    from dsdn.training.base import train_base

    start = tmp_path / "start"  # the test base with one UNet weight moved far from where a fresh run starts
    shutil.copytree(toy_base_dir, start)
    unet_file = lambda d: d / "unet" / "diffusion_pytorch_model.safetensors"  # noqa: E731
    weights = load_file(str(unet_file(start)))
    name = next(k for k in weights if k.endswith("conv_in.weight"))
    weights[name] = weights[name] + 1.0
    save_file(weights, str(unet_file(start)))
    out = train_base(_tiny_base_config(tmp_path / "b", init_from=str(start), unet_steps=2), progress=False)
    trained = load_file(str(unet_file(out)))
    assert 0 < float((trained[name] - weights[name]).abs().max()) < 0.1  # trained further from the given weights
    vae = lambda d: load_file(str(d / "vae" / "diffusion_pytorch_model.safetensors"))  # noqa: E731
    assert all(torch.equal(vae(out)[k], v) for k, v in vae(start).items())  # the VAE is taken as it is
    text = lambda d: load_file(str(d / "text_encoder" / "model.safetensors"))  # noqa: E731
    assert not all(torch.equal(text(out)[k], v) for k, v in text(start).items())  # trained along with the UNet...
    kept = train_base(_tiny_base_config(tmp_path / "k", init_from=str(start), unet_steps=2, freeze_text=True),
                      progress=False)  # fmt: skip
    assert all(torch.equal(text(kept)[k], v) for k, v in text(start).items())  # ... unless frozen
    assert not torch.equal(load_file(str(unet_file(kept)))[name], weights[name])
    with pytest.raises(DSDNInputError, match="freeze_text=True is invalid: keeps a trained text encoder"):
        _tiny_base_config(tmp_path / "f", freeze_text=True)
    with pytest.raises(DSDNInputError, match="another shape"):
        train_base(_tiny_base_config(tmp_path / "c", init_from=str(start), unet_channels=(16, 16, 32)), progress=False)
    (start / "dsdn_vocabulary.txt").write_text("a\nb\n")
    with pytest.raises(DSDNInputError, match="vocabulary"):
        train_base(_tiny_base_config(tmp_path / "d", init_from=str(start)), progress=False)
    with pytest.raises(DSDNInputError, match="init_from"):
        _tiny_base_config(tmp_path / "e", init_from=str(tmp_path))
    with pytest.raises(DSDNInputError, match="leave out vae_from"):
        _tiny_base_config(tmp_path / "e", init_from=str(toy_base_dir), vae_from=str(toy_base_dir))


def test_base_config_rejects_a_bad_token_weight():
    from dsdn.training.base import BaseTrainConfig

    for bad in (-1.0, float("nan")):
        with pytest.raises(DSDNInputError, match="text_token_weight"):
            BaseTrainConfig(text_token_weight=bad)
    with pytest.raises(DSDNInputError, match="toy_world='v9'.*v2"):
        BaseTrainConfig(toy_world="v9")
    with pytest.raises(DSDNInputError, match="shape_share"):
        BaseTrainConfig(shape_share=2.0)
    with pytest.raises(DSDNInputError, match="text_bow_weight"):
        BaseTrainConfig(text_bow_weight=-0.1)
    with pytest.raises(DSDNInputError, match="dprime_every"):
        BaseTrainConfig(dprime_every=-1)
    with pytest.raises(DSDNInputError, match="checkpoint_every"):
        BaseTrainConfig(checkpoint_every=-1)
    with pytest.raises(DSDNInputError, match="snr_gamma"):
        BaseTrainConfig(snr_gamma=-1.0)
    for name in ("unet_lr", "vae_lr"):
        for bad in (0.0, -1e-3, float("inf")):
            with pytest.raises(DSDNInputError, match=name):
                BaseTrainConfig(**{name: bad})


def test_base_min_snr_loss_down_weights_only_the_nearly_clean_timesteps():
    from dsdn.tiny import sd_scheduler
    from dsdn.training.base import denoising_loss

    sched = sd_scheduler()
    gen = torch.Generator().manual_seed(0)
    pred, noise = torch.randn(2, 4, 8, 8, generator=gen), torch.randn(2, 4, 8, 8, generator=gen)
    per_frame = ((pred - noise) ** 2).flatten(1).mean(1)
    noisy = torch.tensor([900, 900])  # SNR far below 5: weight 1, the plain MSE
    assert torch.equal(denoising_loss(pred, noise, noisy, sched, 0.0), torch.nn.functional.mse_loss(pred, noise))
    assert torch.allclose(denoising_loss(pred, noise, noisy, sched, 5.0), per_frame.mean())
    clean = torch.tensor([1, 900])  # SNR(1) is in the thousands: that frame counts 5 / SNR
    a = sched.alphas_cumprod[1]
    weight = float(5.0 / (a / (1 - a)))
    assert weight < 0.01
    expected = (per_frame[0] * weight + per_frame[1]) / 2
    assert torch.allclose(denoising_loss(pred, noise, clean, sched, 5.0), expected)


def test_the_base_learns_the_toy_world_version_it_is_given(monkeypatch, tmp_path, toy_base_dir):
    from typer.testing import CliRunner

    from dsdn.cli import app
    from dsdn.training import base

    class WorldMade(Exception):
        pass

    def world(*args, **kwargs):
        raise WorldMade(kwargs)

    monkeypatch.setattr(base, "build_tiny_base", lambda cfg, words: {})
    monkeypatch.setattr(base, "ToyWorld", world)
    with pytest.raises(WorldMade) as made:
        base.train_base(base.BaseTrainConfig(out=str(tmp_path), toy_world="v2"), progress=False)
    assert made.value.args[0]["version"] == "v2"
    seen = []
    monkeypatch.setattr(base, "train_base", lambda cfg, progress=True: seen.append(cfg) or tmp_path)
    args = ["--toy-world", "v2", "--text-bow-weight", "0.2", "--dprime-every", "5", "--vae-from", str(toy_base_dir)]
    CliRunner().invoke(app, ["train", "base", "--out", str(tmp_path), *args, "-q"], catch_exceptions=False)
    assert (seen[0].toy_world, seen[0].text_bow_weight, seen[0].dprime_every) == ("v2", 0.2, 5)
    assert seen[0].vae_from == str(toy_base_dir)
    res = CliRunner().invoke(app, ["train", "base", "--out", str(tmp_path), "--toy-world", "v9"])
    assert res.exit_code != 0 and "toy_world" in res.output


@pytest.mark.slow
@pytest.mark.parametrize("transpose", [False, True])
def test_validation_writes_samples_and_judges_them_in_the_words_axes(toy_base_dir, tmp_path, monkeypatch, transpose):
    import dsdn.video_io
    from dsdn.evaluation import toy

    judged, saved = [], []
    real_judge, real_save = toy.judge_clip, dsdn.video_io.save_video
    monkeypatch.setattr(toy, "judge_clip", lambda video: judged.append(video) or real_judge(video))
    monkeypatch.setattr(dsdn.video_io, "save_video", lambda v, *a, **k: saved.append(v) or real_save(v, *a, **k))
    cfg = _cfg(toy_base_dir, tmp_path / "run", toy_clips=2, steps=2, checkpoint_every=2, validate_every=2,
               validation_prompts=("a red circle moving up", "a blue square moving left"), validation_steps=2,
               toy_transpose=transpose, size=32)  # fmt: skip
    train_video(cfg, progress=False)
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"val_direction_acc", "val_colour_acc", "val_visible", "val_shape_kept"} <= set(last) and last[
        "validation_clips"
    ] == 2
    assert len(list((tmp_path / "run" / "samples").rglob("*.mp4"))) == 2
    assert len(judged) == len(saved) == 2
    for video, sample in zip(judged, saved):  # the sample as generated; judged with height and width swapped back
        assert np.array_equal(video, sample.transpose(0, 2, 1, 3) if transpose else sample)
        assert not np.array_equal(sample, sample.transpose(0, 2, 1, 3))  # (so the check above can fail)


def test_the_toy_world_options_reach_the_training_clips():
    cfg = VideoTrainConfig(base="unused", toy_clips=20, toy_world="v2", toy_transpose=True, toy_motions="down, up")
    world = build_dataset(cfg, 32)
    assert world.version == "v2" and world.transpose and world.size == 32 and len(world) == 20
    assert {world.spec(i).motion for i in range(20)} == {"up", "down"}


@pytest.mark.slow
def test_caption_contrast_trains_and_logs_and_bad_pairs_are_refused(toy_base_dir, tmp_path):
    with pytest.raises(DSDNInputError, match="contrast pair"):
        VideoTrainConfig(base="unused", contrast_pairs=("left:right", "up"))
    cfg = _cfg(toy_base_dir, tmp_path / "run", steps=2, checkpoint_every=2, text_dropout=0.0, contrast_weight=0.1,
               toy_motions="left,right")  # fmt: skip
    train_video(cfg, progress=False)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all("contrast" in r and r["contrast"] >= 0 for r in records) and len(records) == 2


@pytest.mark.slow
def test_a_run_with_a_mixed_noise_prior_and_cross_frame_attention_saves_them_as_sampling_defaults(
    toy_base_dir, tmp_path, monkeypatch
):
    with pytest.raises(DSDNInputError, match="shared_noise"):
        VideoTrainConfig(base="unused", shared_noise=1.5)
    seen = []
    real_loss = tv_objective.dsdn_loss
    monkeypatch.setattr(tv_objective, "dsdn_loss", lambda *a, **kw: seen.append(kw) or real_loss(*a, **kw))
    cfg = _cfg(
        toy_base_dir, tmp_path / "run", steps=1, checkpoint_every=1, shared_noise=0.5, cross_frame_attention=True
    )
    path = train_video(cfg, progress=False)
    assert seen and seen[0]["shared_noise"] == 0.5 and seen[0]["cross_frame"] is True  # trained with both
    assert json.loads((path / "config.json").read_text())["shared_noise"] == 0.5
    settings = DSDNPipeline.from_pretrained(path, base=str(toy_base_dir)).sampling_settings()
    assert settings["shared_noise"] == 0.5 and settings["cross_frame_attention"] is True


@pytest.mark.slow
def test_a_run_with_the_combine_term_logs_it_and_saves_its_combiner_as_the_sampling_default(
    toy_base_dir, tmp_path, monkeypatch
):
    with pytest.raises(DSDNInputError, match="combiner"):
        VideoTrainConfig(base="unused", combiner="median")
    with pytest.raises(DSDNInputError, match="motion_coherence"):
        VideoTrainConfig(base="unused", motion_coherence=1.5)
    seen = []
    real_loss = tv_objective.dsdn_loss
    monkeypatch.setattr(tv_objective, "dsdn_loss", lambda *a, **kw: seen.append(kw) or real_loss(*a, **kw))
    cfg = _cfg(toy_base_dir, tmp_path / "run", steps=2, checkpoint_every=2, combine_weight=0.5,
               combiner="least_squares", motion_coherence=0.3)  # fmt: skip
    path = train_video(cfg, progress=False)
    assert seen and all((kw["combine_weight"], kw["combiner"], kw["motion_coherence"]) == (0.5, "least_squares", 0.3)
                        for kw in seen)  # fmt: skip
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["combine"] > 0 for r in records)
    settings = DSDNPipeline.from_pretrained(path, base=str(toy_base_dir)).sampling_settings()
    assert (settings["combiner"], settings["motion_coherence"]) == ("least_squares", 0.3)
