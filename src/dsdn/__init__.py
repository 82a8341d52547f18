"""dsdn: text-to-video generation with the Dual-Stream Diffusion Net (Liu et al., arXiv 2308.08316).

The public names below are imported when first used (PEP 562), so that ``import dsdn`` and the CLI's
``--help``, ``version`` and input errors do not wait for torch and diffusers to load.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from .lazy import lazy_exports

try:
    __version__ = version("dsdn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

# public name -> the module that defines it
_EXPORTS = {
    "AdapterPreset": "presets",
    "ContentStream": "content_stream",
    "DSDNAdapter": "adapter",
    "DSDNInputError": "errors",
    "DSDNPipeline": "pipeline",
    "DSDNPipelineOutput": "pipeline",
    "DualStreamDenoiser": "denoiser",
    "DualStreamInteraction": "interaction",
    "FrameVAE": "frame_vae",
    "MotionCombiner": "motion_codec",
    "MotionDecomposer": "motion_codec",
    "PRESETS": "presets",
    "combine_motion": "motion_codec",
    "decompose_motion": "motion_codec",
    "dsdn_loss": "objective",
    "estimate_motion_scale": "motion_codec",
    "load_base": "loading",
}

__all__ = sorted([*_EXPORTS, "__version__"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # for type checkers and editors; at run time __getattr__ imports them
    from .adapter import DSDNAdapter  # noqa: F401
    from .content_stream import ContentStream  # noqa: F401
    from .denoiser import DualStreamDenoiser  # noqa: F401
    from .errors import DSDNInputError  # noqa: F401
    from .frame_vae import FrameVAE  # noqa: F401
    from .interaction import DualStreamInteraction  # noqa: F401
    from .loading import load_base  # noqa: F401
    from .motion_codec import MotionCombiner, MotionDecomposer, combine_motion, decompose_motion, estimate_motion_scale  # noqa: F401
    from .objective import dsdn_loss  # noqa: F401
    from .pipeline import DSDNPipeline, DSDNPipelineOutput  # noqa: F401
    from .presets import PRESETS, AdapterPreset  # noqa: F401
