"""Bad input everywhere: every row of docs/robustness.md is a case here (or names its own test).

Each CLI case must exit with code 2, print exactly one line starting with ``error:``, show no
traceback, and leave nothing new behind in its output folder.
"""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dsdn.cli import app
from dsdn.errors import DSDNInputError, DSDNRunError

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
OK = "a red circle moving right"


def _broken_model(kind: str, model: Path, tmp: Path) -> Path:
    """A copy of a trained model folder with one defect."""
    bad = tmp / f"model-{kind}"
    shutil.copytree(model, bad)
    weights = bad / "diffusion_pytorch_model.safetensors"
    if kind == "truncated":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif kind == "empty-weights":
        weights.write_bytes(b"")
    elif kind == "bad-json":
        (bad / "config.json").write_text("{not json")
    elif kind == "wrong-class":
        cfg = json.loads((bad / "config.json").read_text())
        (bad / "config.json").write_text(json.dumps({**cfg, "_class_name": "UNet2DModel"}))
    elif kind == "wrong-field":
        cfg = json.loads((bad / "config.json").read_text())
        (bad / "config.json").write_text(json.dumps({**cfg, "interaction_head_dim": "wide"}))
    elif kind == "shape-mismatch":  # the config promises other widths than the weights have
        cfg = json.loads((bad / "config.json").read_text())
        cfg["lora_rank"] = cfg["lora_rank"]  # unchanged; change the motion stream's widths instead
        cfg["motion_unet_config"]["block_out_channels"] = [
            2 * c for c in cfg["motion_unet_config"]["block_out_channels"]
        ]
        (bad / "config.json").write_text(json.dumps(cfg))
    elif kind == "pickle-only":
        weights.rename(bad / "diffusion_pytorch_model.bin")
    elif kind == "truncated-lora":
        lora = bad / "pytorch_lora_weights.safetensors"
        lora.write_bytes(lora.read_bytes()[:100])
    elif kind == "truncated-base":
        unet = bad / "base" / "unet" / "diffusion_pytorch_model.safetensors"
        unet.write_bytes(unet.read_bytes()[:1000])
    elif kind == "no-base":
        shutil.rmtree(bad / "base")
    elif kind == "config-list":
        (bad / "config.json").write_text("[]")
    elif kind == "stray-weights":
        (bad / "notes.safetensors").write_text("not weights")
    elif kind == "latin1-vocabulary":
        (bad / "base" / "dsdn_vocabulary.txt").write_bytes("red\ncaf\u00e9\n".encode("latin-1"))
    return bad


GENERATE_CASES = [
    # (id, args, needle); {model} = a valid tiny model, {tmp} = a scratch folder
    ("empty-prompt", ["", "--model", "{model}"], "prompt="),
    ("blank-prompt", ["   ", "--model", "{model}"], "prompt="),
    ("non-ascii-word", ["a red chien é moving right"], "does not know: 'chien', 'é'"),
    ("zero-frames", [OK, "--frames", "0"], "frames=0"),
    ("too-many-frames", [OK, "--frames", "100000"], "frames=100000"),
    ("negative-steps", [OK, "--steps", "-1"], "steps=-1"),
    ("nan-guidance", [OK, "--guidance", "nan"], "guidance=nan"),
    ("inf-guidance", [OK, "--guidance", "inf"], "guidance=inf"),
    ("nan-lora-scale", [OK, "--lora-scale", "nan"], "lora_scale=nan"),
    ("negative-motion-coherence", [OK, "--motion-coherence", "-0.1"], "motion_coherence=-0.1"),
    ("negative-motion-guidance", [OK, "--motion-guidance", "-1"], "motion_guidance=-1"),
    ("unknown-combiner", [OK, "--combiner", "spline"], "combiner='spline'"),
    ("stream-sync-above-one", [OK, "--stream-sync", "1.5"], "stream_sync=1.5"),
    ("nan-shared-noise", [OK, "--shared-noise", "nan"], "shared_noise=nan"),
    ("carry-from-above-one", [OK, "--carry-from", "2"], "carry_from=2"),
    ("early-steps-without-sync", [OK, "--early-until", "0.2", "--stream-sync", "0"], "early_until=0.2"),
    ("early-coherence-above-one", [OK, "--early-coherence", "1.5"], "early_coherence=1.5"),
    ("negative-seed", [OK, "--seed", "-1"], "seed=-1"),
    ("zero-fps", [OK, "--fps", "0"], "fps=0"),
    ("odd-height", [OK, "--height", "7"], "height=7"),
    ("huge-height", [OK, "--height", "100000"], "height=100000"),
    ("unknown-scheduler", [OK, "--scheduler", "magic"], "scheduler='magic'"),
    ("unknown-device", [OK, "--device", "tpu"], "device="),
    ("bad-suffix", [OK, "--out", "{tmp}/x.avi"], "unsupported suffix"),
    ("out-is-a-users-folder", [OK, "--out", "{tmp}/mine"], "never replaced"),
    ("out-under-a-file", [OK, "--out", "{tmp}/file.txt/x.mp4"], "not a writable folder"),
    ("sidecar-would-replace-a-users-file", [OK, "--out", "{tmp}/notes.mp4"], "did not write"),
    ("sidecar-would-replace-a-folder", [OK, "--out", "{tmp}/mine.gif"], "would replace a folder"),
    ("missing-model", [OK, "--model", "{tmp}/missing"], "--model="),
    ("path-traversal-model", [OK, "--model", "{tmp}/../../../../../../etc"], "no config.json"),
    ("model-is-a-file", [OK, "--model", "{tmp}/file.txt"], "not a folder"),
    ("truncated-weights", [OK, "--model", "{bad:truncated}"], "not a readable safetensors file"),
    ("empty-weights", [OK, "--model", "{bad:empty-weights}"], "not a readable safetensors file"),
    ("config-not-json", [OK, "--model", "{bad:bad-json}"], "not valid JSON"),
    ("config-wrong-class", [OK, "--model", "{bad:wrong-class}"], "does not describe a DSDNAdapter"),
    ("config-wrong-type", [OK, "--model", "{bad:wrong-field}"], "not a valid DSDN config"),
    ("weights-do-not-match-config", [OK, "--model", "{bad:shape-mismatch}"], "has shape"),
    ("pickle-weights-only", [OK, "--model", "{bad:pickle-only}"], "safetensors only"),
    ("truncated-lora", [OK, "--model", "{bad:truncated-lora}"], "pytorch_lora_weights.safetensors"),
    ("truncated-base", [OK, "--model", "{bad:truncated-base}"], "could not be loaded"),
    ("model-without-base", [OK, "--model", "{bad:no-base}"], "pass the SD base"),
    ("device-not-on-this-machine", [OK, "--device", "cuda:99"], "device='cuda:99'"),
    ("malformed-device", [OK, "--device", "cuda:abc"], "device='cuda:abc'"),
    ("seed-beyond-64-bits", [OK, "--seed", str(2**64)], f"seed={2**64}"),
    ("steps-above-training-steps", [OK, "--steps", "1001"], "steps=1001"),
    ("huge-fps", [OK, "--fps", "1000"], "fps=1000"),
    ("height-not-a-multiple", [OK, "--height", "60"], "height=60"),
    ("out-is-only-a-suffix", [OK, "--out", "{tmp}/.mp4"], "no name before its suffix"),
    ("out-is-an-empty-folder", [OK, "--out", "{tmp}/empty"], "never replaced"),
    ("emoji-in-prompt", ["a red circle moving right \U0001f642"], "does not read"),
    ("punctuation-only-prompt", ["!!!"], "has no words"),
    ("prompt-at-not-frame-and-text", [OK, "--prompt-at", "three:a blue circle"], "must be FRAME:TEXT"),
    (
        "prompt-at-out-of-order",
        [OK, "--frames", "16", "--prompt-at", "8:a blue circle", "--prompt-at", "4:a circle"],
        "give the changes in frame order",
    ),  # fmt: skip
    ("prompt-at-past-the-clip", [OK, "--prompt-at", "8:a blue circle"], "below --frames 8"),
    ("travel-blend-without-travel", [OK, "--travel-blend", "4"], "needs --prompt-at"),
    ("cache-interval-zero", [OK, "--cache-interval", "0"], "cache_interval=0"),
    ("cache-depth-past-the-unet", [OK, "--cache-interval", "2", "--cache-depth", "3", "--steps", "2"], "cache_depth=3"),
    ("overflowing-guidance", [OK, "--guidance", "1e308", "--steps", "2"], "NaN or infinite latents"),
    ("overflowing-lora-scale", [OK, "--lora-scale", "1e30", "--steps", "2"], "NaN or infinite latents"),
    ("image-missing", [OK, "--image", "{tmp}/missing.png"], "image="),
    ("image-not-a-picture", [OK, "--image", "{tmp}/file.txt"], "must be an image file PIL can read"),
    ("image-without-sync", [OK, "--image", "{tmp}/file.txt", "--stream-sync", "0"], "must be > 0 with --image"),
    ("video-missing", [OK, "--video", "{tmp}/missing.mp4"], "video="),
    ("video-not-a-video", [OK, "--video", "{tmp}/file.txt"], "must be a video file PyAV can read"),
    ("video-shorter-than-frames", [OK, "--video", "{tmp}/empty"], "must have at least --frames 8 frames"),
    ("video-and-image", [OK, "--video", "{tmp}/empty", "--image", "{tmp}/file.txt"], "give one of --image, --video"),
    ("strength-zero", [OK, "--video", "{tmp}/empty", "--strength", "0"], "strength=0"),
    ("strength-above-one", [OK, "--strength", "1.5"], "strength=1.5"),
    ("motion-from-missing", [OK, "--motion-from", "{tmp}/missing.mp4"], "motion_from="),
    ("motion-from-shorter-than-frames", [OK, "--motion-from", "{tmp}/empty"], "must have at least --frames 8 frames"),
    ("motion-from-and-video", [OK, "--motion-from", "{tmp}/empty", "--video", "{tmp}/empty"], "not --video and"),
    ("motion-hold-without-a-clip", [OK, "--motion-hold", "0.5"], "needs a source clip"),
    ("motion-hold-above-one", [OK, "--motion-from", "{tmp}/empty", "--motion-hold", "1.5"], "motion_hold=1.5"),
    (
        "context-stride-zero",
        [OK, "--frames", "40", "--context-frames", "8", "--context-stride", "0"],
        "context_stride=0",
    ),
    ("context-stride-without-frames", [OK, "--context-stride", "4"], "needs --context-frames"),
    (
        "anchored-window-too-long",
        [OK, "--frames", "40", "--context-frames", "32", "--context-anchor"],
        "context_frames=",
    ),
]


@pytest.mark.parametrize("args, needle", [c[1:] for c in GENERATE_CASES], ids=[c[0] for c in GENERATE_CASES])
@pytest.mark.slow
def test_generate_bad_input(trained_model_dir, tmp_path, args, needle):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "mine").mkdir()
    (scratch / "mine" / "notes.txt").write_text("keep me")
    (scratch / "file.txt").write_text("a file")
    (scratch / "notes.json").write_text('{"my": "notes"}')
    (scratch / "mine.json").mkdir()
    (scratch / "empty").mkdir()

    def fill(a):
        m = re.fullmatch(r"\{bad:(.+)\}", a)
        if m:
            return str(_broken_model(m.group(1), trained_model_dir, tmp_path))
        return a.format(model=trained_model_dir, tmp=scratch)

    args = [fill(a) for a in args]
    if "--out" not in args:
        args += ["--out", str(scratch / "v.mp4")]
    before = sorted(p.name for p in scratch.rglob("*"))
    res = runner.invoke(app, ["generate", *args, "-q"])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.output, res.output
    assert sorted(p.name for p in scratch.rglob("*")) == before  # nothing written, nothing deleted
    assert (scratch / "mine" / "notes.txt").read_text() == "keep me"
    assert (scratch / "notes.json").read_text() == '{"my": "notes"}'


OTHER_CASES = [
    ("train-video-missing-base", ["train", "video", "--base", "{tmp}/none", "--out", "{tmp}/run"], "does not exist"),
    ("train-video-zero-steps", ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--steps", "0"], "steps=0"),
    ("train-video-nan-lr", ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--lr", "nan"], "lr=nan"),
    (
        "train-video-negative-batch",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--batch-size", "-2"],
        "batch_size=-2",
    ),
    (
        "train-video-missing-data",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--data", "{tmp}/none"],
        "data=",
    ),
    (
        "train-video-shared-noise-above-one",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--shared-noise", "2"],
        "shared_noise=2",
    ),
    (
        "train-video-stop-at-past-steps",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--steps", "10", "--stop-at", "20"],
        "stop_at=20",
    ),
    (
        "train-video-unknown-combiner",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--combiner", "median"],
        "combiner='median'",
    ),
    (
        "train-base-negative-token-weight",
        ["train", "base", "--out", "{tmp}/b", "--text-token-weight", "-1"],
        "text_token_weight=-1",
    ),
    ("train-base-zero-unet-lr", ["train", "base", "--out", "{tmp}/b", "--unet-lr", "0"], "unet_lr=0"),
    ("train-base-vae-from-not-a-base", ["train", "base", "--out", "{tmp}/b", "--vae-from", "{tmp}"], "vae_from="),
    ("train-base-init-from-not-a-base", ["train", "base", "--out", "{tmp}/b", "--init-from", "{tmp}"], "init_from="),
    ("train-base-freeze-text-alone", ["train", "base", "--out", "{tmp}/b", "--freeze-text"], "it needs init_from"),
    (
        "train-base-negative-checkpoint-every",
        ["train", "base", "--out", "{tmp}/b", "--checkpoint-every", "-1"],
        "checkpoint_every=-1",
    ),
    ("train-peer-unknown-kind", ["train", "peer", "--kind", "sora", "--out", "{tmp}/p"], "kind="),
    (
        "train-peer-negative-budget",
        ["train", "peer", "--kind", "unet3d", "--out", "{tmp}/p", "--budget-s", "-5"],
        "budget_s=-5",
    ),
    (
        "train-peer-unknown-world",
        ["train", "peer", "--kind", "unet3d", "--out", "{tmp}/p", "--toy-world", "v0"],
        "toy_world='v0'",
    ),
    (
        "train-peer-zero-checkpoint-every",
        ["train", "peer", "--kind", "unet3d", "--out", "{tmp}/p", "--checkpoint-every", "0"],
        "checkpoint_every=0",
    ),
    (
        "train-video-init-from-not-a-model",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--init-from", "{tmp}", "--toy-clips", "2"],
        "not a DSDN model folder",
    ),
    (
        "train-peer-missing-base",
        ["train", "peer", "--kind", "unet3d", "--base", "{tmp}/none", "--out", "{tmp}/p"],
        "does not exist",
    ),
    ("web-bad-port", ["web", "--port", "70000"], "port=70000"),
    ("eval-toy-negative-prompts", ["eval", "toy", "--prompts", "-1"], "prompts=-1"),
    ("eval-toy-unknown-world", ["eval", "toy", "--toy-world", "v9"], "toy_world='v9'"),
    ("eval-toy-nothing-to-do", ["eval", "toy", "--prompts", "0", "--heldout-prompts", "0"], "nothing to evaluate"),
    ("eval-toy-coherence-above-one", ["eval", "toy", "--motion-coherence", "2"], "motion_coherence=2"),
    ("eval-toy-unknown-combiner", ["eval", "toy", "--combiner", "spline"], "combiner='spline'"),
    ("eval-toy-negative-stream-sync", ["eval", "toy", "--stream-sync", "-1"], "stream_sync=-1"),
    (
        "eval-sweep-write-other-scheduler",
        ["eval", "sweep", "--model", "{tmp}/none", "--scheduler", "unipc", "--write"],
        "stored defaults are for its own scheduler",
    ),
    ("eval-video-missing", ["eval", "video", "{tmp}/none.mp4"], "is not a file"),
    ("eval-video-zero-length", ["eval", "video", "{tmp}/empty.mp4"], "could not be decoded"),
    ("eval-video-corrupt", ["eval", "video", "{tmp}/corrupt.mp4"], "could not be decoded"),
    ("eval-video-one-frame", ["eval", "video", "{tmp}/one.mp4"], "has 1 frame(s)"),
    ("eval-judge-zero-steps", ["eval", "train-judge", "--steps", "0", "--out", "{tmp}/j"], "steps=0"),
    ("eval-toy-missing-judge", ["eval", "toy", "--judge", "{tmp}/none"], "train-judge"),
    ("info-missing-model", ["info", "--model", "{tmp}/none"], "--model="),
    ("benchmark-missing-file", ["benchmark", "quality", "{tmp}/none.yaml"], "does not exist"),
    ("benchmark-not-yaml", ["benchmark", "quality", "{tmp}/bad.yaml"], "not valid YAML"),
    ("benchmark-unknown-kind", ["benchmark", "quality", "{tmp}/kind.yaml"], "kind"),
    ("speed-bad-list", ["benchmark", "speed", "--tiny-frames", "8,x"], "comma-separated integers"),
    ("speed-zero-repeats", ["benchmark", "speed", "--repeats", "0"], "repeats=0"),
    # outputs that would replace or land in the wrong kind of thing: refused before any work
    ("train-video-out-is-a-file", ["train", "video", "--base", "{base}", "--out", "{tmp}/file.txt"], "existing file"),
    ("train-base-out-is-a-file", ["train", "base", "--out", "{tmp}/file.txt"], "existing file"),
    ("train-peer-out-is-a-file", ["train", "peer", "--kind", "unet3d", "--out", "{tmp}/file.txt"], "existing file"),
    ("eval-judge-out-is-a-file", ["eval", "train-judge", "--out", "{tmp}/file.txt"], "existing file"),
    ("eval-toy-json-is-a-folder", ["eval", "toy", "--json", "{tmp}/vids"], "is a folder"),
    ("eval-toy-save-dir-is-a-file", ["eval", "toy", "--save-dir", "{tmp}/file.txt"], "existing file"),
    ("eval-video-json-is-a-folder", ["eval", "video", "{tmp}/one.mp4", "--json", "{tmp}/vids"], "is a folder"),
    (
        "benchmark-out-is-a-file",
        ["benchmark", "quality", "{tmp}/kind.yaml", "--out", "{tmp}/file.txt"],
        "existing file",
    ),
    (
        "benchmark-report-is-a-folder",
        ["benchmark", "quality", "{tmp}/kind.yaml", "--report", "{tmp}/vids"],
        "is a folder",
    ),
    ("speed-json-is-a-folder", ["benchmark", "speed", "--json", "{tmp}/vids"], "is a folder"),
    # numbers beyond what the base, the model or the scheduler allow
    (
        "train-video-size-not-a-multiple",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--size", "60"],
        "size=60",
    ),
    (
        "train-video-huge-size",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--size", "100000"],
        "size=100000",
    ),
    (
        "train-video-huge-frames",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--frames", "100000"],
        "num_frames=100000",
    ),
    ("train-video-zero-lr", ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--lr", "0"], "lr=0.0"),
    (
        "train-base-device-not-on-this-machine",
        ["train", "base", "--out", "{tmp}/b", "--device", "cuda:99"],
        "device='cuda:99'",
    ),
    ("eval-toy-seed-beyond-64-bits", ["eval", "toy", "--seed", str(2**64)], f"seed={2**64}"),
    ("eval-toy-steps-above-training-steps", ["eval", "toy", "--steps", "5000"], "steps=5000"),
    ("web-device-not-on-this-machine", ["web", "--device", "cuda:99"], "device='cuda:99'"),
    ("speed-no-scales", ["benchmark", "speed", "--scales", ""], "scales="),
    # files the command reads
    (
        "train-video-captions-missing",
        [
            "train",
            "video",
            "--base",
            "{base}",
            "--out",
            "{tmp}/run",
            "--data",
            "{tmp}/vids",
            "--captions",
            "{tmp}/none.csv",
        ],
        "no such file",
    ),
    (
        "train-video-captions-is-a-folder",
        [
            "train",
            "video",
            "--base",
            "{base}",
            "--out",
            "{tmp}/run",
            "--data",
            "{tmp}/vids",
            "--captions",
            "{tmp}/folder.csv",
        ],
        "a folder",
    ),
    (
        "train-video-latin1-captions",
        [
            "train",
            "video",
            "--base",
            "{base}",
            "--out",
            "{tmp}/run",
            "--data",
            "{tmp}/vids",
            "--captions",
            "{tmp}/latin1.csv",
            "--toy-clips",
            "2",
        ],
        "not UTF-8",
    ),
    (
        "train-video-jsonl-row-not-an-object",
        [
            "train",
            "video",
            "--base",
            "{base}",
            "--out",
            "{tmp}/run",
            "--data",
            "{tmp}/vids",
            "--captions",
            "{tmp}/rows.jsonl",
        ],
        "not an object",
    ),
    (
        "train-video-missing-preset",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--preset", "{tmp}/none.yaml"],
        "no such file",
    ),
    (
        "train-video-broken-preset",
        ["train", "video", "--base", "{base}", "--out", "{tmp}/run", "--preset", "{tmp}/bad.yaml"],
        "not valid YAML",
    ),
    ("benchmark-seeds-not-a-list", ["benchmark", "quality", "{tmp}/seeds.yaml"], "seeds=5"),
    ("benchmark-prompts-not-a-list", ["benchmark", "quality", "{tmp}/prompts.yaml"], "prompts=5"),
    ("benchmark-methods-not-a-list", ["benchmark", "quality", "{tmp}/methods.yaml"], "methods=5"),
    ("benchmark-steps-above-training-steps", ["benchmark", "quality", "{tmp}/steps.yaml"], "steps=5000"),
    ("info-config-not-an-object", ["info", "--model", "{bad:config-list}"], "does not describe a DSDNAdapter"),
    ("info-truncated-weights", ["info", "--model", "{bad:truncated}"], "not a readable safetensors file"),
    ("info-stray-safetensors", ["info", "--model", "{bad:stray-weights}"], "notes.safetensors"),
    ("info-latin1-vocabulary", ["info", "--model", "{bad:latin1-vocabulary}"], "not UTF-8"),
    ("eval-toy-damaged-judge", ["eval", "toy", "--judge", "{tmp}/badjudge"], "not a readable safetensors file"),
]


@pytest.mark.parametrize("args, needle", [c[1:] for c in OTHER_CASES], ids=[c[0] for c in OTHER_CASES])
def test_other_commands_bad_input(trained_model_dir, tmp_path, args, needle):
    from dsdn.video_io import save_video

    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 200)
    save_video(np.zeros((1, 16, 16, 3), np.uint8), tmp_path / "one.mp4")
    (tmp_path / "bad.yaml").write_text("methods: [unclosed\n")
    (tmp_path / "kind.yaml").write_text("prompts: [x]\nmethods: [{name: a, kind: nope}]\n")
    (tmp_path / "seeds.yaml").write_text("seeds: 5\nprompts: [x]\nmethods: [{name: a, kind: dsdn}]\n")
    (tmp_path / "prompts.yaml").write_text("prompts: 5\nmethods: [{name: a, kind: dsdn}]\n")
    (tmp_path / "methods.yaml").write_text("prompts: [x]\nmethods: 5\n")
    (tmp_path / "steps.yaml").write_text("steps: 5000\nprompts: [x]\nmethods: [{name: a, kind: dsdn}]\n")
    (tmp_path / "file.txt").write_text("a user's file")
    (tmp_path / "vids").mkdir()
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "latin1.csv").write_bytes("video,caption\na.mp4,caf\u00e9\n".encode("latin-1"))
    (tmp_path / "rows.jsonl").write_text("[1, 2]\n")
    (tmp_path / "badjudge").mkdir()
    (tmp_path / "badjudge" / "judge_config.json").write_text('{"width": 32, "classes": ["circle", "square"]}')
    (tmp_path / "badjudge" / "judge.safetensors").write_bytes(b"random bytes, not weights")
    broken = tmp_path.parent / f"{tmp_path.name}-broken"
    broken.mkdir()

    def fill(a):
        m = re.fullmatch(r"\{bad:(.+)\}", a)
        if m:
            return str(_broken_model(m.group(1), trained_model_dir, broken))
        return a.format(tmp=tmp_path, base=trained_model_dir / "base")

    args = [fill(a) for a in args]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    res = runner.invoke(app, [*args, "-q"] if args[0] in ("train", "benchmark") or args[:2] == ["eval", "toy"]
                        or args[:2] == ["eval", "train-judge"] else args)  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.output
    assert "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.slow
def test_decode_chunking_changes_only_the_last_float_bits(pipe):
    from conftest import assert_same_frames, gen_kwargs

    whole = pipe("a red ball", **gen_kwargs(num_frames=6, decode_chunk_size=16)).frames
    chunked = pipe("a red ball", **gen_kwargs(num_frames=6, decode_chunk_size=1)).frames
    np.testing.assert_allclose(whole, chunked, rtol=0, atol=1e-5)  # batch size picks other conv kernels
    again = pipe("a red ball", **gen_kwargs(num_frames=6, decode_chunk_size=1)).frames
    assert_same_frames(chunked, again, atol=1e-6)  # same settings: the same, far closer than the above


def test_a_wrong_type_is_refused_by_the_parser(tmp_path):
    res = runner.invoke(app, ["generate", OK, "--frames", "eight", "--out", str(tmp_path / "v.mp4")])
    assert res.exit_code == 2 and "Invalid value for '--frames'" in res.output and "integer" in res.output
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_debug_shows_the_traceback(trained_model_dir, tmp_path):
    with pytest.raises(DSDNInputError):  # the error itself, with its traceback, not the one-line report
        runner.invoke(app, ["generate", OK, "--frames", "0", "--debug", "--out", str(tmp_path / "v.mp4")],
                      catch_exceptions=False)  # fmt: skip


def test_every_row_of_the_robustness_doc_names_a_real_test():
    doc = (ROOT / "docs" / "robustness.md").read_text()
    ids = {c[0] for c in GENERATE_CASES} | {c[0] for c in OTHER_CASES}
    rows = [line for line in doc.splitlines() if line.startswith("| ") and not line.rstrip(" |").endswith("| test")]
    assert len(rows) >= len(ids)
    for row in rows:
        ref = row.rstrip(" |").split("|")[-1].strip().strip("`")
        if ref.startswith("tests/"):
            file, _, name = ref.partition("::")
            name = name.split("[")[0]
            assert f"def {name}(" in (ROOT / file).read_text(), ref
        else:
            assert ref in ids, f"{ref!r} is not a case id of tests/test_robustness.py"
    documented = {row.rstrip(" |").split("|")[-1].strip().strip("`") for row in rows}
    assert ids <= documented, sorted(ids - documented)
    counts = re.search(r"(\d+) bad inputs tried, (\d+) faults injected, 0 files lost", doc)
    assert counts and int(counts.group(1)) == len(ids) + 1  # + the parser's wrong-type case
    # test_faults.py: KILLS kills, full disk twice, one NaN, a damaged and an all-damaged resume; a killed video write
    assert int(counts.group(2)) == 4 + 3 + 2 + 1


@pytest.mark.parametrize(
    "error, code, needle",
    [
        (RuntimeError("boom"), 1, "unexpected RuntimeError: boom"),
        (OSError(28, "No space left on device"), 1, "No space left on device"),
        (MemoryError(), 1, "out of memory"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
    ids=["bug", "disk-full", "out-of-memory", "ctrl-c"],
)
def test_one_error_boundary_turns_any_failure_into_one_line(tmp_path, monkeypatch, error, code, needle):
    import dsdn.generate

    def fail(*a, **kw):
        raise error

    monkeypatch.setattr(dsdn.generate, "generate_video", fail)
    args = ["generate", OK, "--out", str(tmp_path / "v.mp4"), "-q"]
    res = runner.invoke(app, args)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == code and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (
        res.output
    )
    assert "Traceback" not in res.output
    if not isinstance(error, KeyboardInterrupt):  # with --debug, Click itself reports Ctrl-C as "Aborted!"
        with pytest.raises(type(error)):
            runner.invoke(app, [*args, "--debug"], catch_exceptions=False)


class _ReachedWork(DSDNRunError):
    """Raised where a command's work starts: the boundary prints it as the line ``error: reached work``."""


#: Where each command's real work starts; the property test below stops every command there.
WORK = {
    ("generate",): ("dsdn.generate", "generate_video"),
    ("train", "base"): ("dsdn.training.base", "train_base"),
    ("train", "video"): ("dsdn.training.video", "train_video"),
    ("train", "peer"): ("dsdn.training.peers", "train_peer"),
    ("eval", "toy"): ("dsdn.pipeline", "DSDNPipeline.from_pretrained"),
    ("eval", "compare"): ("dsdn.evaluation.compare", "compare_records"),
    ("eval", "sweep"): ("dsdn.evaluation.sweep", "sweep_sampling"),
    ("eval", "video"): ("dsdn.evaluation.metrics", "video_metrics"),
    ("eval", "train-judge"): ("dsdn.evaluation.judge", "train_judge"),
    ("benchmark", "quality"): ("dsdn.evaluation.benchmark", "run_benchmark"),
    ("benchmark", "speed"): ("dsdn.evaluation.speed", "run_speed"),
    ("web",): ("dsdn.web", "build_demo"),
}
#: A valid call of each command (positional arguments, then options), which must reach its work.
VALID = {
    ("generate",): ([OK], {"--out": "{tmp}/v.mp4"}),
    ("train", "base"): ([], {"--out": "{tmp}/b"}),
    ("train", "video"): ([], {"--base": "{base}", "--out": "{tmp}/run"}),
    ("train", "peer"): ([], {"--kind": "unet3d", "--out": "{tmp}/p"}),
    ("eval", "toy"): ([], {}),
    ("eval", "compare"): (["{tmp}/eval.json", "{tmp}/eval.json"], {}),
    ("eval", "sweep"): ([], {"--model": "{model}"}),
    ("eval", "video"): (["{tmp}/one.mp4"], {}),
    ("eval", "train-judge"): ([], {"--out": "{tmp}/j"}),
    ("benchmark", "quality"): (["{tmp}/ok.yaml"], {"--out": "{tmp}/bq"}),
    ("benchmark", "speed"): ([], {"--json": "{tmp}/s.json"}),
    ("web",): ([], {}),
    ("info",): ([], {}),
}
HOSTILE = ["", "-1", "nan", "1e309", str(2**70), "\u00e9\U0001f642", "{tmp}/file.txt", "{tmp}/folder"]


def _commands():
    from typer.main import get_command

    def walk(cmd, path):
        if hasattr(cmd, "commands"):  # a group (Click's, or the copy Typer vendors)
            for name, sub in cmd.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield path, cmd

    return dict(walk(get_command(app), ()))


def test_the_property_test_covers_every_command():
    assert set(_commands()) == set(VALID) | {("version",)}


@pytest.mark.parametrize("path", sorted(VALID), ids=[" ".join(p) for p in sorted(VALID)])
@pytest.mark.slow
def test_every_option_refuses_hostile_values_in_one_line_before_any_work(
    trained_model_dir, tmp_path, monkeypatch, path
):
    """Every option and argument of every command, fed empty, negative, NaN, overflowing, unicode, file and
    folder values: the command refuses in one line (exit 2) or, for a value that is valid, reaches its work;
    never a traceback, never an unexpected error, and nothing is written or replaced."""
    import importlib

    from dsdn.video_io import save_video

    if path in WORK:
        module, name = WORK[path]

        def reached(*a, **kw):
            raise _ReachedWork("reached work")

        owner = importlib.import_module(module)
        *parents, name = name.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        monkeypatch.setattr(owner, name, reached)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "file.txt").write_text("a user's file")
    (scratch / "folder").mkdir()
    (scratch / "ok.yaml").write_text(f"prompts: [{OK}]\nmethods: [{{name: d, kind: dsdn}}]\n")
    save_video(np.zeros((2, 16, 16, 3), np.uint8), scratch / "one.mp4")
    record = {"prompt": OK, "seed": 0, "direction": "right", "want_direction": "right", "colour": "red",
              "want_colour": "red", "visible_every_frame": True, "shape_kept": 1.0}  # fmt: skip
    (scratch / "eval.json").write_text(json.dumps({"sampling": {}, "train": {"records": [record]}}))
    before = {p: p.read_bytes() if p.is_file() else None for p in scratch.rglob("*")}
    command = _commands()[path]
    positional, options = VALID[path]

    def run(positional, options):
        args = [*path, *positional]
        for k, v in options.items():
            args += [k, v]
        args = [a.format(tmp=scratch, base=trained_model_dir / "base", model=trained_model_dir) for a in args]
        quiet = any(p.name == "quiet" for p in command.params)
        res = runner.invoke(app, [*args, *(["-q"] if quiet else [])])
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert "Traceback" not in res.output and "bug in dsdn" not in res.output, (args, res.output)
        assert {p: p.read_bytes() if p.is_file() else None for p in scratch.rglob("*")} == before, args
        return res, lines, args

    res, lines, args = run(positional, options)
    if path in WORK:
        assert res.exit_code == 1 and lines == ["error: reached work"], (args, res.output)
    else:
        assert res.exit_code == 0, (args, res.output)
    tried = 0
    for param in command.params:
        if (
            param.name in ("debug", "quiet")
            or getattr(param, "is_flag", False)
            or getattr(getattr(param, "type", None), "name", "") == "boolean"
        ):
            continue
        for value in HOSTILE:
            if param.param_type_name == "argument":
                index = [p for p in command.params if p.param_type_name == "argument"].index(param)
                res, lines, args = run([*positional[:index], value, *positional[index + 1 :]], options)
            else:
                res, lines, args = run(positional, {**options, param.opts[0]: value})
            tried += 1
            if res.exit_code == 2 and lines and lines[0].startswith("error: "):
                assert len(lines) == 1, (args, res.output)  # refused in one line
            elif res.exit_code == 2:
                assert "Usage:" in res.output, (args, res.output)  # refused by the parser (wrong type)
            elif path in WORK:  # a valid value: the work was reached, nothing done before it failed
                assert res.exit_code == 1 and lines == ["error: reached work"], (args, res.output)
            else:
                assert res.exit_code == 0, (args, res.output)
    assert tried >= len(HOSTILE)


def test_web_refuses_a_port_in_use_before_loading_anything():
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = runner.invoke(app, ["web", "--port", str(port)])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and f"port={port}" in lines[0] and "not free" in lines[0], res.output
