import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_script

ROOT = Path(__file__).resolve().parents[1]


def research_module(name: str):
    """Import ``research/NAME.py`` (the research scripts are not a package)."""
    sys.path.insert(0, str(ROOT / "research"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "research"))


def _caption_gap(*args: str) -> str:
    res = run_script(ROOT / "research" / "caption_gap.py", *args)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.mark.slow
def test_caption_gap_script_prints_a_row_per_direction_and_timestep():
    # v1's third phrases ("rises", "slides to the left"...), each against a direction on the other axis
    out = _caption_gap("--clips", "1", "--timesteps", "500,900", "--attention", "--phrase", "2", "--against",
                       "perpendicular")  # fmt: skip
    skip = ("attention", "content-attention", "motion stream's", "content stream's")
    lines = [line for line in out.splitlines()[1:] if not line.startswith(skip)]
    # the attention weight on the direction word: per stream, one row per text cross-attention layer, a share of 1
    assert "motion stream's" in out and "content stream's" in out and "1/16 = 0.062" in out
    for prefix in ("attention ", "content-attention "):
        attention = [line.split()[2:] for line in out.splitlines() if line.startswith(prefix)]
        assert attention
        for cells in attention:
            assert cells[0::3] == ["up", "down", "left", "right"] and all(0 < float(w) < 1 for w in cells[1::3])
    apart = [line for line in lines if "text states" in line]
    assert "'rises' and 'slides to the left'" in apart[0] and "'slides to the left' and 'rises'" in apart[2]
    assert len(apart) == 4 and all(0 < float(line.split()[-4]) < 10 for line in apart)
    separation = [line.split() for line in lines if "d' of" in line]
    assert [r[0] for r in separation] == ["up", "left"] and all(float(r[-1]) > 0 for r in separation)
    rows = [line.split() for line in lines if "text states" not in line and "d' of" not in line]
    assert [(r[0], r[1]) for r in rows] == [(d, t) for d in ("up", "down", "left", "right") for t in ("500", "900")]
    for r in rows:  # own / opposite / empty errors are positive numbers, and the gap is their ratio
        own, opposite, empty = (float(x) for x in (r[2], r[4], r[6]))
        assert own > 0 and opposite > 0 and empty > 0
        assert abs(float(r[7].rstrip("%")) - 100 * (opposite / own - 1)) < 1.0
    # the opposite caption in one stream only: two more gaps, not copies of the first
    both, motion_only, content_only = ([float(r[k].rstrip("%")) for r in rows] for k in (7, 9, 11))
    assert motion_only != both and content_only != both and motion_only != content_only


@pytest.mark.slow
def test_caption_gap_reads_a_training_checkpoint_as_its_saved_model(toy_base_dir, tmp_path):
    from dsdn.training.runs import list_checkpoints
    from dsdn.training.video import VideoTrainConfig, train_video

    cfg = VideoTrainConfig(base=str(toy_base_dir), out=str(tmp_path / "run"), toy_clips=4, steps=2, batch_size=2,
                           checkpoint_every=2, validate_every=0, warmup_steps=1)  # fmt: skip
    model = train_video(cfg, progress=False)
    args = ("--clips", "1", "--timesteps", "900")
    from_model = _caption_gap("--model", str(model), *args)
    checkpoint = list_checkpoints(tmp_path / "run")[-1]
    assert _caption_gap("--model", str(checkpoint), "--base", str(toy_base_dir), *args) == from_model
    # and it is this model's figures, not the shipped one's
    assert _caption_gap(*args) != from_model
    # the checkpoint exported as a model folder holds the run's final model (no EMA in this run)
    res = run_script(ROOT / "scripts" / "export_checkpoint.py", "--base", str(toy_base_dir), "--checkpoint",
                     str(checkpoint), "--out", str(tmp_path / "exported"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    from safetensors.torch import load_file

    for name in ("diffusion_pytorch_model.safetensors", "pytorch_lora_weights.safetensors"):
        saved, exported = load_file(model / name), load_file(tmp_path / "exported" / name)
        assert saved.keys() == exported.keys() and all(torch.equal(saved[k], exported[k]) for k in saved)
    assert (tmp_path / "exported" / "base" / "model_index.json").is_file()


@pytest.mark.slow
def test_swap_word_embeddings_gives_one_word_the_others_text_states(toy_base_dir, tmp_path):
    from transformers import CLIPTextModel, CLIPTokenizer

    out = tmp_path / "swapped"
    script = ROOT / "research" / "swap_word_embeddings.py"
    res = run_script(script, "--base", str(toy_base_dir), "--out", str(out))
    assert res.returncode == 0, res.stderr
    tokenizer = CLIPTokenizer.from_pretrained(toy_base_dir / "tokenizer")
    old, new = (CLIPTextModel.from_pretrained(p / "text_encoder") for p in (toy_base_dir, out))

    def states(model, caption):
        ids = tokenizer([caption], padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt")
        with torch.no_grad():
            return model(ids.input_ids)[0]

    for a, b in (("up", "left"), ("down", "right"), ("left", "up")):
        assert torch.equal(states(new, f"a red circle moving {a}"), states(old, f"a red circle moving {b}"))
    assert torch.equal(states(new, "a red circle bouncing"), states(old, "a red circle bouncing"))
    assert not torch.equal(states(new, "a red circle moving up"), states(old, "a red circle moving up"))
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in toy_base_dir.iterdir())
    # bad pairs and an existing --out are refused, and the existing folder is left as it was
    for pairs in ("up:left,up:right", "up", "up:zzzz"):
        res = run_script(script, "--base", str(toy_base_dir), "--out", str(tmp_path / "x"), "--pairs", pairs)
        assert res.returncode != 0 and not (tmp_path / "x").exists()
    again = run_script(script, "--base", str(toy_base_dir), "--out", str(out))
    assert again.returncode != 0 and "already exists" in again.stderr


@pytest.mark.slow
def test_vae_ceiling_judges_real_clips_and_their_vae_round_trip():
    res = run_script(ROOT / "research" / "vae_ceiling.py", "--prompts", "3", "--seeds", "2")
    assert res.returncode == 0, res.stderr
    real, vae, lost = res.stdout.splitlines()
    assert real.split()[:3] == ["real", "clips", "clips=6"]
    assert real.split()[3:] == ["direction=100.0%", "colour=100.0%", "visible=100.0%", "clean=100.0%"]  # real clips
    figures = dict(cell.split("=") for cell in vae.split()[3:])
    assert vae.startswith("after the VAE") and list(figures) == ["clips", "direction", "colour", "visible", "clean"]
    passed = [float(figures[k].rstrip("%")) * 6 / 100 for k in list(figures)[1:]]  # clips of 6 that pass each
    assert figures["clips"] == "6" and all(abs(c - round(c)) < 0.01 and 0 <= c <= 6 for c in passed)
    visible = round(float(figures["visible"].rstrip("%")) * 6 / 100)
    # every real clip is visible, so the clips lost by the round trip are all the ones not visible after it
    counts = [int(part.split()[-1]) for part in lost.split(":", 1)[1].split(",") if part.strip() != "none"]
    assert sum(counts) == 6 - visible


@pytest.mark.slow
def test_base_visibility_counts_frames_and_clips_by_colour_and_kind(toy_base_dir):
    res = run_script(ROOT / "research" / "base_visibility.py", "--base", str(toy_base_dir), "--prompts", "5",
                     "--frames", "3", "--steps", "2")  # fmt: skip
    assert res.returncode == 0, res.stderr
    header, *rows = res.stdout.splitlines()
    assert header.endswith("5 prompts x 3 frames, guidance 7.5")
    groups = {}
    for row in rows:
        name, rest = row.split("prompts=")
        frames, clips = (float(v) for v in re.findall(r"visible[a-z ]*=\s*([\d.]+)%", rest))
        groups[name.strip()] = (int(rest.split()[0]), frames, clips)
    *by_group, (name_all, (total, frames_all, clips_all)) = groups.items()
    assert name_all == "all" and total == 5
    assert sum(p for _, (p, _, _) in by_group) == 5
    assert all(name.split()[-1] in ("digit", "shape") for name, _ in by_group)
    for prompts, frames, clips in groups.values():
        # a share of 3 * prompts frames and of prompts clips; a clip visible in every frame has all its frames visible
        assert abs(frames * 3 * prompts / 100 - round(frames * 3 * prompts / 100)) < 0.02
        assert abs(clips * prompts / 100 - round(clips * prompts / 100)) < 0.02
        assert clips <= frames + 1e-9
    # the overall figures are the prompt-weighted means of the groups'
    assert abs(frames_all - sum(p * f for _, (p, f, _) in by_group) / 5) < 0.1


@pytest.mark.slow
def test_frame_strips_writes_one_labelled_row_per_clip(trained_model_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "strips.png"
    res = run_script(ROOT / "scripts" / "frame_strips.py", "--model", str(trained_model_dir), "--out", str(out),
                     "--prompts", "3", "--steps", "1", "--stream-sync", "1")  # fmt: skip
    assert res.returncode == 0, res.stderr
    image = Image.open(out)
    assert image.height % 3 == 0 and image.width > 8 * image.height // 3  # three rows of eight frames
    assert res.stdout.count("clean") + res.stdout.count("fails ") == 3
    res = run_script(ROOT / "scripts" / "frame_strips.py", "--model", str(trained_model_dir), "--out", str(out),
                     "--prompts", "2", "--steps", "1", "--streams")  # fmt: skip
    assert res.returncode == 0, res.stderr
    image = Image.open(out)  # each clip, then its content stream alone and its motion stream placed by the content
    assert image.height % 6 == 0 and image.width > 8 * image.height // 6
    assert res.stdout.count("content stream alone") == 2 and res.stdout.count("motion stream placed") == 2


@pytest.mark.slow
def test_judge_real_clips_passes_real_clips_after_an_mp4_round_trip():
    res = run_script(ROOT / "research" / "judge_real_clips.py", "--limit", "40", "--mp4")
    assert res.returncode == 0, res.stderr
    first = res.stdout.splitlines()[0]
    assert first.startswith("real clips=40  clean=") and float(first.split("clean=")[1].split("%")[0]) >= 95


@pytest.mark.slow
def test_travelling_noise_rolls_frame_one_and_judges_both_arms(trained_model_dir):
    travelling = research_module("travelling_noise").travelling
    noise = torch.randn(1, 4, 1, 6, 6)
    moved = travelling(noise, "left", 1)
    assert moved.shape == (1, 4, 8, 6, 6) and torch.equal(moved[:, :, 0], noise[:, :, 0])
    assert torch.equal(moved[:, :, 3], torch.roll(noise[:, :, 0], -3, dims=3))  # three pixels left by frame 4
    assert torch.equal(travelling(noise, "down", 2)[:, :, 1], torch.roll(noise[:, :, 0], 2, dims=2))  # rows: down
    res = run_script(ROOT / "research" / "travelling_noise.py", "--model", str(trained_model_dir),
                     "--toy-world", "v1", "--prompts", "2", "--steps", "2")  # fmt: skip
    assert res.returncode == 0, res.stderr
    arms = [line for line in res.stdout.splitlines() if line.startswith("speed=")]
    assert [a.split()[0] for a in arms] == ["speed=0", "speed=1"] and all(a.endswith("(n=2)") for a in arms)


@pytest.mark.slow
def test_carry_path_variants_swap_the_search_and_run_a_dsdn_command(monkeypatch):
    from test_carry import FRAMES, badly_drawn_clip

    import dsdn.carry as carry

    variants = research_module("carry_path_variants")
    clip = badly_drawn_clip((0, 1), 2)  # frame 3 not drawn
    want = [[0.0, float(f)] for f in range(3, FRAMES)]
    assert carry.read_path(clip).shifts[3:].tolist() == want
    monkeypatch.setattr(carry, "_whole_shift", variants.VARIANTS["local"])
    assert carry.read_path(clip).shifts[3:].tolist() != want  # the search before it: astray after the bad frame
    res = subprocess.run([sys.executable, str(ROOT / "research" / "carry_path_variants.py"), "--variant", "local", "--",
                          "version"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0 and "\ndsdn " in res.stdout, res.stderr


@pytest.mark.slow
def test_image_to_video_reports_frame_one_psnr_direction_and_steadiness(trained_model_dir, tmp_path):
    largest_step = research_module("image_to_video").largest_step
    from dsdn.data.toy_world import ClipSpec, render_clip

    real = render_clip(ClipSpec("circle", "red", "right", "quickly", "textured", seed=1, version="v3"))
    assert largest_step(real, "red") <= 5  # 4 pixels a frame
    jumped = real.copy()
    jumped[4:] = np.roll(real[4:], 20, axis=2)  # the object jumps 20 pixels at frame 5
    assert largest_step(jumped, "red") >= 16
    strips = tmp_path / "i2v.png"
    res = run_script(ROOT / "research" / "image_to_video.py", "--model", str(trained_model_dir), "--clips", "2",
                     "--steps", "2", "--strips", str(strips))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("clips=2") and "steady" in res.stdout and strips.is_file()


@pytest.mark.slow
def test_gpu_speed_script_runs_at_a_tiny_shape_on_the_cpu(tmp_path):
    """scripts/gpu_speed.py, which BENCHMARKS.md's accelerator figures come from, at the shipped model's scale on the
    CPU: both methods timed, a training step with gradient checkpointing taken, nothing failed."""
    out = tmp_path / "speed.json"
    res = run_script(ROOT / "scripts" / "gpu_speed.py", "--device", "cpu", "--dtype", "fp32", "--scale", "tiny",
                     "--frames", "2", "--size", "64", "--steps", "1", "--repeats", "1", "--json", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    import json

    figures = json.loads(out.read_text())
    for name in ("DSDN", "AnimateDiffPipeline"):
        row = figures["methods"][name]
        assert "error" not in row and row["seconds_per_step"] > 0 and row["seconds_per_clip"] > 0
    assert "error" not in figures["training"] and figures["training"]["clips_per_second"] > 0
    assert figures["training"]["trainable_params"] == figures["dsdn_added_params"]


@pytest.mark.slow
@pytest.mark.parametrize("constant, values", [("PULL", ("0.005", "0.5")), ("SMOOTH", ("0", "1"))])
def test_carry_constants_samples_every_value_on_the_same_prompts(trained_model_dir, constant, values):
    import dsdn.carry as carry

    before = getattr(carry, constant)
    res = subprocess.run([sys.executable, str(ROOT / "research" / "carry_constants.py"), "--model",
                          str(trained_model_dir), "--constant", constant, "--values", ",".join(values), "--prompts",
                          "2", "--steps", "2"], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines, name = res.stdout.splitlines(), constant.lower()
    assert [line.split(":")[0] for line in lines[:2]] == [f"{name} {v}" for v in values] and "clean" in lines[0]
    assert lines[2].startswith(f"{name} {values[1]} against {values[0]}: clean only with {values[0]} ")
    assert getattr(carry, constant) == before  # the script sets it in its own process only


@pytest.mark.parametrize(
    "script, args, first",
    [("prompt_travel.py", ["--frames", "6"], "clips=2"),
     ("long_video.py", ["--frames", "12", "--context-frames", "4"], None),
     ("video_to_video.py", ["--strengths", "0.5,1"], None),
     ("motion_transfer.py", ["--holds", "0,1"], "pairs=2")],
)  # fmt: skip
@pytest.mark.slow
def test_the_toy_world_feature_scripts_run_and_write_their_strips(trained_model_dir, tmp_path, script, args, first):
    """research/prompt_travel.py, long_video.py, video_to_video.py and motion_transfer.py, whose figures
    docs/evaluation.md quotes."""
    strips = tmp_path / "strips.png"
    res = run_script(ROOT / "research" / script, "--model", str(trained_model_dir), "--clips", "2", "--steps",
                     "1", "--strips", str(strips), *args)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert strips.is_file() and "%" in res.stdout and "[" in res.stdout  # rates with their intervals
    if first:
        assert res.stdout.startswith(first)


@pytest.mark.slow
def test_mark_levels_measures_a_faint_dimple_of_the_asked_shade(toy_base_dir, tmp_path):
    from dsdn.data.toy_world import ClipSpec, render_clip
    from dsdn.video_io import save_video

    marked = research_module("mark_levels").marked
    video = render_clip(ClipSpec("square", "red", "right", "quickly", "textured", seed=2, version="v3"))
    assert marked(video, "red", [30.0]) == {30.0: (0, 0.0)}  # a rendered shape is one colour inside
    dimpled = video.copy()
    red = np.abs(video.astype(int) - (230, 40, 40)).sum(-1) < 30
    for f in range(len(dimpled)):
        ys, xs = np.nonzero(red[f])
        y, x = int(ys.mean()), int(xs.mean())
        dimpled[f, y - 1 : y + 2, x - 1 : x + 2] = (160, 28, 28)  # 9 pixels of a darker red, ~72 from the fill
    levels = marked(dimpled, "red", [45.0, 100.0])
    assert levels[45.0][0] == 9 and levels[100.0] == (0, 0.0)
    save_video(dimpled, tmp_path / "clips" / "000_a_red_square_moving_right.mp4", fps=8)
    res = run_script(ROOT / "research" / "mark_levels.py", "--vae", str(toy_base_dir / "vae"), "--seeds", "0",
                     "--clips", str(tmp_path / "clips"), "--deviations", "45")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("generated: clips") and "clips with a blob >= 6: 1" in res.stdout


@pytest.mark.slow
def test_decoder_finetune_changes_only_the_decoder(toy_base_dir, tmp_path):
    from diffusers import AutoencoderKL

    res = run_script(ROOT / "research" / "decoder_finetune.py", "--base", str(toy_base_dir), "--out",
                     str(tmp_path / "vae"), "--steps", "2", "--batch", "2", "--toy-world", "v1")  # fmt: skip
    assert res.returncode == 0, res.stderr
    before = AutoencoderKL.from_pretrained(toy_base_dir, subfolder="vae").state_dict()
    after = AutoencoderKL.from_pretrained(tmp_path / "vae").state_dict()
    assert before.keys() == after.keys()
    decoding = [k for k in before if k.startswith(("decoder.", "post_quant_conv."))]
    assert decoding and any(not torch.equal(before[k], after[k]) for k in decoding)
    assert all(torch.equal(before[k], after[k]) for k in before if k not in decoding)  # the latents are unchanged
