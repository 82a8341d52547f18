"""DSDNPipeline keeps diffusers' pipeline contract: embeddings, attention kwargs, FreeU, VAE slicing, from_pipe.

(The step-end callback contract and ``latents`` as one tensor are in test_pipeline.)
"""

from __future__ import annotations

import pytest
import torch
from conftest import SIZE, agrees, assert_same_frames, gen_kwargs, make_pipeline, perturb_trained_parts_
from diffusers.models.attention_processor import AttnProcessor2_0

from dsdn import DSDNAdapter, DSDNPipeline
from dsdn.errors import DSDNInputError
from dsdn.tiny import tiny_sd_components


@pytest.fixture(scope="module")
def trained():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    return pipe


def latent(pipe, prompt="a red ball", **kw):
    return pipe(prompt, **gen_kwargs(output_type="latent", **kw)).frames


@pytest.mark.slow
def test_encode_prompt_has_diffusers_form_and_its_embeddings_sample_as_the_text(trained):
    pe, ne = trained.encode_prompt(["a red ball", "a blue ball"], "cpu", 2, True, negative_prompt="green")
    assert pe.shape == ne.shape and pe.shape[0] == 4  # two videos per prompt, the prompt's rows side by side
    assert agrees(pe[0], pe[1]) and not agrees(pe[1], pe[2]) and agrees(ne[0], ne[3])
    assert trained.encode_prompt("a red ball", do_classifier_free_guidance=False)[1] is None

    pe, ne = trained.encode_prompt("a red ball", negative_prompt="green")
    by_text = latent(trained, negative_prompt="green")
    assert agrees(latent(trained, None, prompt_embeds=pe, negative_prompt_embeds=ne), by_text, atol=1e-5)
    # Without negative embeddings the negative is the empty prompt, as for text.
    assert agrees(latent(trained, None, prompt_embeds=pe), latent(trained), atol=1e-5)
    assert not agrees(latent(trained, None, prompt_embeds=pe * 0.5), by_text, atol=1e-3)

    skipped = trained.encode_prompt("a red ball", clip_skip=1)[0]
    assert skipped.shape == pe.shape and not agrees(skipped, pe)
    assert agrees(latent(trained, clip_skip=1), latent(trained, None, prompt_embeds=skipped,
                  negative_prompt_embeds=trained.encode_prompt("", clip_skip=1, do_classifier_free_guidance=False)[0]),
                  atol=1e-5)  # fmt: skip


def test_a_pipeline_with_only_a_text_encoder_computes_the_same_embeddings(trained):
    text_only = DSDNPipeline(vae=None, text_encoder=trained.text_encoder, tokenizer=trained.tokenizer, unet=None,
                             adapter=None, scheduler=None)  # fmt: skip
    for a, b in zip(text_only.encode_prompt("a red ball"), trained.encode_prompt("a red ball")):
        assert agrees(a, b)


@pytest.mark.slow
def test_a_pipeline_without_text_encoder_samples_from_embeddings_as_the_full_one(trained):
    pe, ne = trained.encode_prompt("a red ball")
    parts = {**trained.components, "text_encoder": None, "tokenizer": None}
    no_text = DSDNPipeline(**parts)
    no_text.set_progress_bar_config(disable=True)
    assert agrees(latent(no_text, None, prompt_embeds=pe, negative_prompt_embeds=ne), latent(trained), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"prompt": "a red ball", "prompt_embeds": "E"}, "prompt="),
        ({"prompt": None}, "prompt="),
        ({"prompt": None, "prompt_embeds": torch.zeros(1, 4)}, "prompt_embeds="),
        (
            {"prompt": None, "prompt_embeds": "E", "negative_prompt": "x", "negative_prompt_embeds": "E"},
            "negative_prompt=",
        ),
        (
            {"prompt": None, "prompt_embeds": "E", "negative_prompt_embeds": torch.zeros(2, 3, 5)},
            "negative_prompt_embeds=",
        ),
        ({"prompt": "a red ball", "negative_prompt_embeds": "E"}, "negative_prompt_embeds="),
        (
            {"prompt": "a red ball", "cross_attention_kwargs": {"scale": 0.5}, "content_lora_scale": 0.2},
            "cross_attention_kwargs=",
        ),
        ({"prompt": "a red ball", "clip_skip": -1}, "clip_skip="),
    ],
)
def test_embedding_and_attention_arguments_are_checked_before_any_work(trained, kwargs, name):
    embeds = trained.encode_prompt("a red ball", do_classifier_free_guidance=False)[0]
    kwargs = {k: embeds if isinstance(v, str) and v == "E" else v for k, v in kwargs.items()}
    with pytest.raises(DSDNInputError, match=name):
        trained(**kwargs, **gen_kwargs())


@pytest.mark.slow
def test_a_motion_prompt_and_prompt_embeddings_go_together(trained):
    pe = trained.encode_prompt("a red ball", do_classifier_free_guidance=False)[0]
    with_motion = latent(trained, None, prompt_embeds=pe, motion_prompt="moving left")
    assert agrees(with_motion, latent(trained, motion_prompt="moving left"), atol=1e-5)
    assert not agrees(with_motion, latent(trained, None, prompt_embeds=pe), atol=1e-3)


class RecordingProcessor(AttnProcessor2_0):
    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, marker=None):
        self.seen.append(marker)
        return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


@pytest.mark.slow
def test_cross_attention_kwargs_reach_the_content_unets_processors_and_scale_is_the_lora_scale(trained):
    unscaled = latent(trained)
    scaled = latent(trained, cross_attention_kwargs={"scale": 0.0})
    assert trained.cross_attention_kwargs == {"scale": 0.0}  # the last call's, as diffusers' property
    assert agrees(scaled, latent(trained, content_lora_scale=0.0)) and not agrees(scaled, unscaled, atol=1e-4)

    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    seen = []
    pipe.unet.set_attn_processor(RecordingProcessor(seen))
    pipe("a red ball", **gen_kwargs(cross_attention_kwargs={"marker": "m"}, guidance_scale=1.0))
    attention_layers = sum(name.endswith("processor") for name in pipe.unet.attn_processors)
    assert seen == ["m"] * attention_layers * 3  # every attention layer of the content UNet, at each of 3 steps


@pytest.mark.slow
def test_freeu_acts_on_the_content_unet_and_turns_off_again(trained):
    ref = latent(trained)
    trained.enable_freeu(s1=0.9, s2=0.2, b1=1.5, b2=1.6)
    try:
        assert not agrees(latent(trained), ref, atol=1e-4)
    finally:
        trained.disable_freeu()
    assert agrees(latent(trained), ref)


@pytest.mark.slow
def test_qkv_fusion_is_refused_where_it_would_drop_the_content_lora_and_keeps_the_frames_elsewhere():
    pipe = make_pipeline()
    perturb_trained_parts_(pipe)
    ref = latent(pipe)
    with pytest.raises(DSDNInputError, match="content LoRA"):
        pipe.fuse_qkv_projections()
    assert agrees(latent(pipe), ref)
    frames = pipe("a red ball", **gen_kwargs()).frames
    pipe.fuse_qkv_projections(unet=False)  # the VAE's own attention
    assert_same_frames(pipe("a red ball", **gen_kwargs()).frames, frames)


@pytest.mark.slow
def test_vae_slicing_decodes_the_same_frames(trained):
    ref = trained(["a red ball", "a blue ball"], **gen_kwargs()).frames
    trained.vae.enable_slicing()
    try:
        assert_same_frames(trained(["a red ball", "a blue ball"], **gen_kwargs()).frames, ref)
    finally:
        trained.vae.disable_slicing()


@pytest.mark.slow
def test_from_pipe_shares_the_components_and_leaves_the_source_pipeline_as_it_was():
    from diffusers import StableDiffusionPipeline

    components = tiny_sd_components(0)
    sd = StableDiffusionPipeline(**components, safety_checker=None, feature_extractor=None,
                                 requires_safety_checker=False)  # fmt: skip
    sd.set_progress_bar_config(disable=True)
    keys = sorted(sd.unet.state_dict())
    image = sd("a red ball", height=SIZE, width=SIZE, num_inference_steps=2, output_type="np",
               generator=torch.Generator().manual_seed(0)).images  # fmt: skip

    adapter = DSDNAdapter.for_base(sd.unet, motion_num_heads=4)
    pipe = DSDNPipeline.from_pipe(sd, adapter=adapter)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae is sd.vae and pipe.text_encoder is sd.text_encoder and pipe.unet is not sd.unet
    assert pipe.content_stream.has_lora and not getattr(sd.unet, "peft_config", None)
    assert sorted(sd.unet.state_dict()) == keys
    assert torch.isfinite(latent(pipe)).all()
    again = sd("a red ball", height=SIZE, width=SIZE, num_inference_steps=2, output_type="np",
               generator=torch.Generator().manual_seed(0)).images  # fmt: skip
    assert_same_frames(again, image)
