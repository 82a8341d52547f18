"""dsdn: text-to-video generation with the Dual-Stream Diffusion Net (Liu et al., arXiv 2308.08316)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsdn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .adapter import DSDNAdapter
from .content_stream import ContentStream
from .denoiser import DualStreamDenoiser
from .errors import DSDNInputError
from .frame_vae import FrameVAE
from .interaction import DualStreamInteraction
from .loading import load_base
from .motion_codec import MotionCombiner, MotionDecomposer, combine_motion, decompose_motion, estimate_motion_scale
from .objective import dsdn_loss
from .pipeline import DSDNPipeline, DSDNPipelineOutput
from .presets import PRESETS, AdapterPreset

__all__ = [
    "AdapterPreset",
    "ContentStream",
    "DSDNAdapter",
    "DSDNInputError",
    "DSDNPipeline",
    "DSDNPipelineOutput",
    "DualStreamDenoiser",
    "DualStreamInteraction",
    "FrameVAE",
    "MotionCombiner",
    "MotionDecomposer",
    "PRESETS",
    "__version__",
    "combine_motion",
    "decompose_motion",
    "dsdn_loss",
    "estimate_motion_scale",
    "load_base",
]
