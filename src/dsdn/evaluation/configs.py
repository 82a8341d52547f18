"""The configs of ``dsdn eval toy`` and ``dsdn eval train-judge``: every setting, its default, its help text (the
commands' options are built from these fields) and its check. Torch- and numpy-free."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DSDNInputError, check_choice, check_int, check_seed, invalid
from ..fields import option, option_like
from ..generate import GenerateConfig
from ..paths import check_output_folder


@dataclass
class JudgeTrainConfig:
    """Everything that determines a judge; the default takes about a minute on 2 CPU cores."""

    out: str = option("outputs/judge", "Folder for judge.safetensors and judge_config.json.")
    steps: int = option(600, "Training steps.")
    batch: int = 64
    lr: float = 2e-3
    width: int = 32
    train_clips: int = option(3000, "Real toy-world clips (train split) whose frames it learns from.")
    test_clips: int = option(400, "Unseen real clips per split for the reported accuracy.")
    size: int = 64
    toy_world: str = option("v1", "Toy-world version whose frames it learns (v3: larger objects).")
    seed: int = option(0, "Seed of the data, the initialisation and the batches.")

    def __post_init__(self):
        from ..data.toy_world import VERSIONS

        for name in ("steps", "batch", "width", "train_clips", "test_clips", "size"):
            check_int(name, getattr(self, name), 1)
        check_choice("toy_world", self.toy_world, VERSIONS)
        check_seed(self.seed)
        check_output_folder("out", self.out)
        if self.width % 8:
            raise invalid("width", self.width, "must be a multiple of 8 (group normalisation in 8 groups)")


@dataclass
class ToyEvalConfig:
    """What ``dsdn eval toy`` samples and judges (validated on construction, before any model loads)."""

    model: str | None = option(None, "DSDN model folder (default: the shipped model).", flags=("--model", "-m"))
    prompts: int = option(48, "Prompts from the training vocabulary (held-out combinations excluded).")
    heldout_prompts: int = option(12, "Prompts of the held-out compositions (cycled over seeds).")
    steps: int | None = option(None, "Denoising steps (default: the model's, else 25).")
    seed: int = option(0, "Prompt i uses seed + i.")
    motion_coherence: float | None = option_like(GenerateConfig, "motion_coherence")
    combiner: str | None = option_like(GenerateConfig, "combiner")
    stream_sync: float | None = option_like(GenerateConfig, "stream_sync")
    shared_noise: float | None = option_like(GenerateConfig, "shared_noise")
    cross_frame_attention: bool | None = option_like(GenerateConfig, "cross_frame_attention")
    carry_from: float | None = option_like(GenerateConfig, "carry_from")
    early_coherence: float | None = option_like(GenerateConfig, "early_coherence")
    early_until: float | None = option_like(GenerateConfig, "early_until")
    guidance: float | None = option_like(GenerateConfig, "guidance")
    motion_guidance: float | None = option_like(GenerateConfig, "motion_guidance")
    scheduler: str = option_like(GenerateConfig, "scheduler")
    cache_interval: int = option_like(GenerateConfig, "cache_interval")
    cache_depth: int = option_like(GenerateConfig, "cache_depth")
    save_dir: str | None = option(None, "Also write every judged clip as mp4 here.")
    judge: str | None = option(
        None, "A judge from 'dsdn eval train-judge': adds object accuracy and frame consistency."
    )
    toy_world: str | None = option(
        None, "Toy-world version the model learned (v3: larger objects; default: the model's, else v1)."
    )
    json_out: str | None = option(None, "Write figures and per-clip records as JSON.", flags=("--json",))

    def __post_init__(self):
        from ..data.toy_world import VERSIONS
        from ..generate import model_limits, resolve_model_dir
        from ..options import check_cache_options, check_sampling_options
        from ..paths import check_output_file
        from ..schedulers import SCHEDULERS

        check_int("prompts", self.prompts, 0)
        check_int("heldout_prompts", self.heldout_prompts, 0)
        check_seed(self.seed)
        check_sampling_options(self.guidance, self.motion_guidance, self.motion_coherence, self.combiner,
                               self.stream_sync, self.shared_noise, self.carry_from, self.early_coherence,
                               self.early_until)  # fmt: skip
        check_choice("scheduler", self.scheduler, SCHEDULERS)
        check_cache_options(self.cache_interval, self.cache_depth)
        if self.prompts + self.heldout_prompts == 0:
            raise DSDNInputError("prompts=0 and heldout_prompts=0: nothing to evaluate; give at least one prompt.")
        check_output_file("json", self.json_out)
        check_output_folder("save_dir", self.save_dir)
        if self.steps is not None:
            check_int("steps", self.steps, 1)
        model_dir = resolve_model_dir(self.model)  # a missing model folder fails now
        if self.steps is not None:
            check_int("steps", self.steps, 1, model_limits(model_dir).get("max_steps"))
        if self.toy_world is not None:
            check_choice("toy_world", self.toy_world, VERSIONS)
