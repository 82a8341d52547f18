"""diffusers' own common pipeline tests (``PipelineTesterMixin``) run against DSDNPipeline with tiny components.

Not part of dsdn's suite: ``run.sh`` places this file in a copy of diffusers' ``tests/`` tree and runs it. Parameters
are declared as diffusers declares them for AnimateDiffPipeline. Where DSDN differs from an image pipeline by design,
a test is run in the form that applies, and the comment says why.
"""

import unittest

import diffusers
import torch

from dsdn import DSDNAdapter, DSDNPipeline
from dsdn.tiny import tiny_sd_components

from ..pipeline_params import TEXT_TO_IMAGE_BATCH_PARAMS, TEXT_TO_IMAGE_PARAMS
from ..test_pipelines_common import PipelineTesterMixin

# diffusers' tools find a pipeline's source in diffusers.pipelines (test_encode_prompt_works_in_isolation reads
# encode_prompt's return names there); a third-party pipeline is not in it.
diffusers.pipelines.DSDNPipeline = DSDNPipeline


class DSDNPipelineFastTests(PipelineTesterMixin, unittest.TestCase):
    pipeline_class = DSDNPipeline
    params = TEXT_TO_IMAGE_PARAMS
    batch_params = TEXT_TO_IMAGE_BATCH_PARAMS
    required_optional_params = frozenset(
        ["num_inference_steps", "generator", "latents", "return_dict", "callback_on_step_end",
         "callback_on_step_end_tensor_inputs"]
    )  # fmt: skip

    def get_dummy_components(self):
        components = tiny_sd_components(0)
        torch.manual_seed(1)
        components["adapter"] = DSDNAdapter.for_base(components["unet"], motion_num_heads=4)
        return components

    def get_dummy_inputs(self, device, seed=0):
        generator = torch.Generator(device="cpu").manual_seed(seed)
        return {"prompt": "a red ball", "generator": generator, "num_inference_steps": 2, "guidance_scale": 7.5,
                "output_type": "pt", "num_frames": 4, "height": 16, "width": 16}  # fmt: skip

    def test_attention_slicing_forward_pass(self):
        # The mean-pixel comparison converts the output to one PIL image, which a video is not (AnimateDiff's own
        # tests skip this test); the maximum difference is compared.
        self._test_attention_slicing_forward_pass(test_mean_pixel_difference=False)

    def test_callback_inputs(self):
        # diffusers' test, but its last check zeroes `latents` alone and expects a zero output: DSDN's output
        # combines two streams (`latents`, the content stream's, and `motion_latents`), so here both are zeroed.
        pipe = self.pipeline_class(**self.get_dummy_components())
        pipe.set_progress_bar_config(disable=True)
        asked = []

        def check(pipe, i, t, callback_kwargs):
            assert sorted(callback_kwargs) == sorted(asked)
            if i == pipe.num_timesteps - 1 and "motion_latents" in asked:
                callback_kwargs = {k: torch.zeros_like(v) if "latents" in k else v for k, v in callback_kwargs.items()}
            return callback_kwargs

        for tensor_inputs in (["latents"], pipe._callback_tensor_inputs):
            asked[:] = tensor_inputs
            inputs = self.get_dummy_inputs("cpu")
            inputs.update(callback_on_step_end=check, callback_on_step_end_tensor_inputs=tensor_inputs,
                          output_type="latent")  # fmt: skip
            out = pipe(**inputs)[0]
        assert out.abs().sum() == 0
