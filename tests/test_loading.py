"""Base loading (folder and single file), DSDN save/load in both layouts, LoRA interoperability, shipped SD-1.5
configs."""

import json

import pytest
import torch
from accelerate import init_empty_weights
from conftest import agrees, assert_same_frames, gen_kwargs, make_pipeline, perturb_trained_parts_
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
from ldm_export import save_single_file

from dsdn import DSDNAdapter, DSDNInputError, DSDNPipeline, load_base
from dsdn.evaluation.sweep import write_defaults
from dsdn.generate import model_limits
from dsdn.loading import sd15_config_dir, sd15_tokenizer
from dsdn.model_layout import model_parts
from dsdn.tiny import tiny_sd_pipeline
from dsdn.training.video import VideoTrainConfig


@pytest.fixture(scope="module")
def base_dir_and_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    sd = tiny_sd_pipeline(seed=1)
    sd.save_pretrained(d / "folder")
    save_single_file(sd, d / "tiny-sd.safetensors")
    return d / "folder", d / "tiny-sd.safetensors"


@pytest.mark.slow
def test_folder_and_single_file_give_identical_outputs(base_dir_and_file):
    folder, single = base_dir_and_file
    a = load_base(folder)
    b = load_base(single, config=folder)
    for name in ("unet", "vae", "text_encoder"):
        sa, sb = a[name].state_dict(), b[name].state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    torch.manual_seed(0)
    adapter = DSDNAdapter.for_base(a["unet"], motion_num_heads=4)
    frames = []
    for comps in (a, b):
        pipe = DSDNPipeline(**comps, adapter=adapter)
        pipe.set_progress_bar_config(disable=True)
        frames.append(pipe("a red ball", **gen_kwargs()).frames)
    assert_same_frames(frames[0], frames[1])


@pytest.mark.slow
def test_dsdn_weights_round_trip_bit_exactly(tmp_path, base_dir_and_file):
    folder, _ = base_dir_and_file
    comps = load_base(folder)
    torch.manual_seed(0)
    pipe = DSDNPipeline(**comps, adapter=DSDNAdapter.for_base(comps["unet"], motion_num_heads=4, motion_scale=2.0))
    pipe.set_progress_bar_config(disable=True)
    perturb_trained_parts_(pipe)
    pipe.save_adapter(tmp_path / "dsdn")
    saved = sorted(p.name for p in (tmp_path / "dsdn").iterdir())
    assert saved == ["config.json", "diffusion_pytorch_model.safetensors", "pytorch_lora_weights.safetensors"]
    again = DSDNPipeline.from_pretrained(tmp_path / "dsdn", base=folder)
    again.set_progress_bar_config(disable=True)
    a = dict(pipe.denoiser().trainable_parameters())
    b = dict(again.denoiser().trainable_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert again.adapter.config.motion_scale == 2.0
    assert_same_frames(pipe("a ball", **gen_kwargs()).frames, again("a ball", **gen_kwargs()).frames)


@pytest.mark.slow
def test_self_contained_folder_loads_and_base_is_a_plain_sd_pipeline(trained_model_dir):
    pipe = DSDNPipeline.from_pretrained(trained_model_dir)
    assert not any(
        "lora" in k for k in UNet2DConditionModel.from_pretrained(trained_model_dir / "base" / "unet").state_dict()
    )
    sd = StableDiffusionPipeline.from_pretrained(
        trained_model_dir / "base", safety_checker=None, requires_safety_checker=False
    )
    sd.set_progress_bar_config(disable=True)
    img = sd("a red ball", height=16, width=16, num_inference_steps=2, output_type="np").images
    assert img.shape == (1, 16, 16, 3)
    # The DSDN content LoRA is in diffusers' LoRA format: any SD pipeline can load it.
    sd.load_lora_weights(trained_model_dir, weight_name="pytorch_lora_weights.safetensors", adapter_name="dsdn")
    ours = {k: v for k, v in pipe.unet.state_dict().items() if "lora_" in k}
    theirs = {k.replace(".dsdn.", ".dsdn_content."): v for k, v in sd.unet.state_dict().items() if "lora_" in k}
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.slow
def test_base_unet_copy_has_no_lora_and_matches_base():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    copy = pipe.base_unet_copy()
    ref = make_pipeline().unet  # same seed, untouched
    x, t, text = torch.randn(2, 4, 8, 8), torch.tensor([3, 600]), torch.randn(2, 16, 32)
    with torch.no_grad():
        assert agrees(copy(x, t, text).sample, ref(x, t, text).sample)


def test_shipped_sd15_configs_describe_sd15():
    d = sd15_config_dir()
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(d / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(d / "vae"))
    assert 855e6 < sum(p.numel() for p in unet.parameters()) < 865e6  # SD-1.5 UNet: 859.5M
    assert 83e6 < sum(p.numel() for p in vae.parameters()) < 84e6  # SD VAE: 83.7M


def test_sd15_tokenizer_matches_clip_ids():
    tok = sd15_tokenizer()
    assert len(tok) == 49408 and tok.model_max_length == 77
    ids = tok("a photo of a cat").input_ids
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(DSDNInputError, match="does not exist"):
        load_base(tmp_path / "nope")
    with pytest.raises(DSDNInputError, match="no model_index.json"):
        load_base(tmp_path)
    (tmp_path / "model.ckpt").write_bytes(b"\x80\x04")
    with pytest.raises(DSDNInputError, match="pickle"):
        load_base(tmp_path / "model.ckpt")
    with pytest.raises(DSDNInputError, match="no config.json"):
        DSDNPipeline.from_pretrained(tmp_path)
    (tmp_path / "model_index.json").write_text("{}")
    with pytest.raises(DSDNInputError, match="without adapter/"):
        DSDNPipeline.from_pretrained(tmp_path)


@pytest.mark.slow
def test_save_pretrained_writes_a_diffusers_pipeline_folder_that_loads_back_exactly(tmp_path):
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    pipe.known_words = frozenset({"a", "red", "ball"})
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "DSDNPipeline" and index["adapter"] == ["dsdn.adapter", "DSDNAdapter"]
    assert sorted(p.name for p in (tmp_path / "adapter").iterdir()) == [
        "config.json", "diffusion_pytorch_model.safetensors", "pytorch_lora_weights.safetensors"]  # fmt: skip
    assert model_parts(tmp_path) == (tmp_path / "adapter", tmp_path)
    assert model_limits(tmp_path)["max_frames"] == pipe.adapter.config.motion_frame_positions

    again = DSDNPipeline.from_pretrained(tmp_path)
    again.set_progress_bar_config(disable=True)
    a, b = dict(pipe.denoiser().trainable_parameters()), dict(again.denoiser().trainable_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert again.known_words == pipe.known_words
    assert_same_frames(pipe("a red ball", **gen_kwargs()).frames, again("a red ball", **gen_kwargs()).frames)
    # Its unet/ is the frozen base without the LoRA: the folder loads as a plain SD pipeline too.
    sd = StableDiffusionPipeline.from_pretrained(tmp_path, safety_checker=None, requires_safety_checker=False)
    plain = pipe.base_unet_copy().state_dict()
    assert sd.unet.state_dict().keys() == plain.keys() and all(torch.equal(sd.unet.state_dict()[k], plain[k])
                                                               for k in plain)  # fmt: skip
    with pytest.raises(DSDNInputError, match="holds its own base"):
        DSDNPipeline.from_pretrained(tmp_path, base=tmp_path)
    # What edits or reads a model's config finds a pipeline folder's in adapter/.
    assert write_defaults(tmp_path, {"motion_coherence": 0.25}) == tmp_path / "adapter" / "config.json"
    assert DSDNPipeline.from_pretrained(tmp_path).sampling_settings()["motion_coherence"] == 0.25
    VideoTrainConfig(base=str(tmp_path), out=str(tmp_path / "run"), init_from=str(tmp_path), num_frames=4)


@pytest.mark.slow
def test_a_pipeline_folder_takes_diffusers_loading_and_saving_keywords(tmp_path, caplog):
    pipe = make_pipeline()
    perturb_trained_parts_(pipe, seed=1)
    pipe.save_pretrained(tmp_path)
    perturb_trained_parts_(pipe, seed=2)
    with caplog.at_level("WARNING"):
        pipe.save_pretrained(tmp_path, variant="v2", safe_serialization=False)
    assert "safetensors only" in caplog.text and not list(tmp_path.rglob("*.bin"))
    assert (tmp_path / "adapter" / "pytorch_lora_weights.v2.safetensors").is_file()

    def lora_and_motion(p):
        return dict(p.denoiser().trainable_parameters())

    mine = lora_and_motion(pipe)
    v2 = DSDNPipeline.from_pretrained(tmp_path, variant="v2", device_map="cpu")
    assert all(torch.equal(v, mine[k]) for k, v in lora_and_motion(v2).items())
    first = DSDNPipeline.from_pretrained(tmp_path)
    assert not all(torch.equal(v, mine[k]) for k, v in lora_and_motion(first).items() if "lora_B" in k)
    with pytest.raises(ValueError, match="variant=v3"):  # diffusers' own error
        DSDNPipeline.from_pretrained(tmp_path, variant="v3")

    half = DSDNPipeline.from_pretrained(tmp_path, dtype=torch.float16)
    assert {half.unet.dtype, half.vae.dtype, half.text_encoder.dtype, half.adapter.dtype} == {torch.float16}
    assert {p.dtype for _, p in half.content_stream.lora_parameters()} == {torch.float16}
    mixed = DSDNPipeline.from_pretrained(tmp_path, dtype={"adapter": torch.float64, "default": torch.float32})
    assert mixed.adapter.dtype == torch.float64 and mixed.unet.dtype == torch.float32
    scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    assert DSDNPipeline.from_pretrained(tmp_path, scheduler=scheduler).scheduler is scheduler
    with pytest.raises(DSDNInputError, match="safetensors only"):
        DSDNPipeline.from_pretrained(tmp_path, use_safetensors=False)
    pipe.save_adapter(tmp_path / "own")
    with pytest.raises(DSDNInputError, match="variant= only apply to a pipeline folder"):
        DSDNPipeline.from_pretrained(tmp_path / "own", base=tmp_path, variant="v2")


@pytest.mark.slow
def test_model_cpu_offload_gives_the_same_frames():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    ref = pipe("a red ball", **gen_kwargs()).frames
    pipe.enable_model_cpu_offload(device="cpu")  # diffusers' hooks, in model_cpu_offload_seq order
    assert_same_frames(pipe("a red ball", **gen_kwargs()).frames, ref)
