"""``dsdn benchmark``: every method on one prompt set, every metric, one table.

A benchmark is described by a YAML file (:class:`BenchmarkSpec`): the prompts (a toy-world
prompt set or an explicit list), the seeds, the sampling settings and the methods. Each method
generates one clip per (prompt, seed); every clip is scored by the pure metrics of
:mod:`dsdn.evaluation.metrics` and the toy-world judges; the results are written as JSON, a
Markdown table with 95% intervals and a plain-words verdict, and PNG plots.

Method kinds (``kind:`` in the YAML):

* ``real``: real toy-world clips of the prompt's (object, colour, motion), the ceiling
  (``size``: pixels, default 64).
* ``dsdn``: a DSDN model (``model:``, default the shipped one: a model folder or the run folder of
  ``dsdn train video``); ablations via ``use_interaction``, ``motion_coherence`` (γ), ``combiner``,
  ``stream_sync``, ``shared_noise``, ``carry_from``, ``content_lora_scale`` (λ), ``motion_guidance_scale``. With
  ``train_steps``, a ``model:`` run folder that holds no model yet is first trained there with the
  shipped model's recipe for that many steps (e.g. DSDN on the peers' budget).
* ``framewise``: the same frozen base as a text-to-image model, independent noise per frame.
* ``text2video-zero``: diffusers' ``TextToVideoZeroPipeline`` on the same base.
* ``animatediff`` / ``unet3d``: the trained peers of :mod:`dsdn.peers` (AnimateDiff-style motion
  modules in the frozen base; one single-stream 3D UNet), sampled with diffusers'
  ``AnimateDiffPipeline`` / ``TextToVideoSDPipeline``. ``model:`` is the run folder of
  ``dsdn train peer``; when it holds no trained peer, one is first trained there (on ``base:``,
  default the shipped model's base) for ``train_steps`` steps or ``train_budget_s`` seconds of
  wall-clock time on this machine, whichever is fewer steps.

Models are trained only through the ``train`` function :func:`run_benchmark` is given (``dsdn benchmark
quality`` gives :func:`dsdn.training.peers.train_for_benchmark`); this module never trains.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DSDNInputError
from ..generate import resolve_model_dir
from ..loading import base_fingerprint
from ..model_layout import model_parts
from ..paths import removes_new_folder_on_failure
from .benchmark_spec import PEER_KINDS, BenchmarkSpec, MethodSpec, model_in
from .provenance import checkout_commit, code_fingerprint, model_record
from .report import METRICS, paired, verdict, write_plots

logger = logging.getLogger(__name__)

#: Clips of every method drawn in the frame-strip plot: the first prompts, with the first seed.
STRIP_CLIPS = 2


# ------------------------------------------------------------------------------------------ methods
def clip_seed(seed: int, index: int, prompts: int) -> int:
    """The noise seed of prompt ``index``'s clip under the benchmark seed ``seed`` (of ``prompts`` prompts):
    ``seed · prompts + index``, so that every clip draws its own noise (clips that shared one would not be
    independent draws, and the intervals would be too narrow), the same for every method, and ``dsdn generate
    --seed`` draws the DSDN row's clip again."""
    return seed * prompts + index


def real_clip(prompt: str, seed: int, frames: int, size: int, version: str = "v1") -> np.ndarray:
    from ..data.toy_world import ClipSpec, render_clip
    from .toy import parse_prompt

    want = parse_prompt(prompt)
    if want is None:
        raise DSDNInputError(f"method kind 'real' needs toy-world prompts (object, colour, motion); got {prompt!r}")
    rng = np.random.default_rng([seed, 7])
    spec = ClipSpec(want["object"], want["colour"], want["motion"], speed=str(rng.choice(["slowly", "quickly"])),
                    background=str(rng.choice(["plain", "textured"])), seed=seed, version=version)  # fmt: skip
    return render_clip(spec, frames, size).astype(np.float32) / 255.0


class _Generators:
    """Builds each method's ``generate(prompt, seed) -> (F, H, W, 3)`` lazily, sharing loaded models."""

    def __init__(self, spec: BenchmarkSpec, train: Callable[[str, Path, dict], Path] | None = None):
        self.spec, self.train = spec, train
        self._pipes: dict[str | None, Any] = {}
        self.trained: dict[str, dict] = {}  # method name -> how its trained model was trained (steps, seconds)
        self.models: dict[str, dict] = {}  # method name -> provenance.model_record of the weights it ran

    def dsdn_pipe(self, model: str | None):
        from ..pipeline import DSDNPipeline

        key = resolve_model_dir(model)
        if key not in self._pipes:
            pipe = DSDNPipeline.from_pretrained(key)
            pipe.set_progress_bar_config(disable=True)
            self._pipes[key] = pipe
        return self._pipes[key]

    def build(self, method: MethodSpec) -> Callable[[str, int], np.ndarray]:
        import torch

        s, o = self.spec, dict(method.options)
        if method.kind == "real":
            size = int(o.get("size", 64))
            return lambda prompt, seed: real_clip(prompt, seed, s.frames, size, s.toy_world)
        if method.kind in PEER_KINDS:
            return self._peer(method, o)
        if method.kind == "dsdn":
            model = self._dsdn_model(method)
            pipe = self.dsdn_pipe(model)
            self.models[method.name] = model_record(resolve_model_dir(model))
            o = {k: v for k, v in o.items() if k not in ("model", "train_steps")}  # the rest are sampling options

            def run(prompt, seed):
                return pipe(prompt, num_frames=s.frames, num_inference_steps=s.steps, guidance_scale=s.guidance,
                            generator=torch.Generator().manual_seed(seed), output_type="np", **o).frames[0]  # fmt: skip

            return run
        from diffusers import DDIMScheduler

        model = o.pop("model", None)
        pipe = self.dsdn_pipe(model)
        self.models[method.name] = model_record(model_parts(resolve_model_dir(model))[1])
        parts = dict(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.base_unet_copy(),
                     scheduler=DDIMScheduler.from_config(pipe.scheduler.config), safety_checker=None,
                     feature_extractor=None, requires_safety_checker=False)  # fmt: skip
        if method.kind == "framewise":
            from diffusers import StableDiffusionPipeline

            t2i = StableDiffusionPipeline(**parts)
            t2i.set_progress_bar_config(disable=True)

            def run(prompt, seed):  # independent noise per frame: one image per frame from one generator
                return t2i(prompt, num_images_per_prompt=s.frames, num_inference_steps=s.steps,
                           guidance_scale=s.guidance, generator=torch.Generator().manual_seed(seed),
                           output_type="np").images  # fmt: skip

            return run
        from diffusers import TextToVideoZeroPipeline

        t2v = TextToVideoZeroPipeline(**parts)
        t2v.set_progress_bar_config(disable=True)
        size = pipe.unet.config.sample_size * pipe.vae_scale_factor
        # The default strength (12) is for 512-pixel frames; keep the same motion per pixel.
        strength = float(o.get("motion_field_strength", 12.0 * size / 512))
        # t0 < t1 < steps, at the same fractions as diffusers' defaults (44 and 47 of 50 steps).
        t1 = min(s.steps - 1, max(1, round(0.94 * s.steps)))
        t0 = min(t1 - 1, round(0.88 * s.steps))

        def run(prompt, seed):
            out = t2v(prompt, video_length=s.frames, num_inference_steps=s.steps, guidance_scale=s.guidance,
                      generator=torch.Generator().manual_seed(seed), motion_field_strength_x=strength,
                      motion_field_strength_y=strength, t0=t0, t1=t1, output_type="np")  # fmt: skip
            return np.asarray(out.images, dtype=np.float32)

        return run

    def _dsdn_model(self, method: MethodSpec) -> str | None:
        """The model folder of a ``dsdn`` row: ``model`` (or its ``model/`` subfolder, for a run folder),
        trained first with ``train_steps`` when it holds none; its training is noted for the report."""
        from ..peers import read_dsdn_run

        o = method.options
        if o.get("model") is None:
            return None
        run = Path(o["model"])
        model = model_in(run)
        if not (model / "config.json").is_file() and o.get("train_steps") is not None:
            model = self._train_missing(method, run)
        info = read_dsdn_run(model)
        if info is not None:
            self._note_training(method, model, info)
        return str(model)

    def _train_missing(self, method: MethodSpec, run: Path) -> Path:
        """The model of ``method``, trained into ``run`` by the ``train`` function the caller gave (its folder
        holds none yet); without one, a one-line error with the command that trains it."""
        if self.train is None:
            command = "dsdn benchmark quality" if method.kind == "dsdn" else f"dsdn train peer --kind {method.kind}"
            raise DSDNInputError(f"{str(run)!r} holds no trained model for {method.name!r}: train it with `{command}` "
                                 "(which trains the rows it lacks), then run again.")  # fmt: skip
        return self.train(method.kind, run, {"toy_world": self.spec.toy_world, **method.options})

    def _note_training(self, method: MethodSpec, model: Path, info: dict) -> None:
        """Keep how ``method``'s model was trained for the report; warn when it is not the file's train_steps."""
        steps = method.options.get("train_steps")
        if steps is not None and info.get("steps") != int(steps):
            logger.warning("%s: the model in %s was trained for %s steps, not the train_steps %s of the benchmark file "
                           "(the report gives its real steps)", method.name, model, info.get("steps"), steps)  # fmt: skip
        self.trained[method.name] = {k: info.get(k) for k in ("kind", "steps", "train_seconds", "trainable_parameters")}

    def _peer(self, method: MethodSpec, o: dict) -> Callable[[str, int], np.ndarray]:
        import torch

        from ..loading import load_base
        from ..peers import PEER_FILE, check_peer_base, default_base, peer_pipeline, read_peer

        kind, run, base = method.kind, Path(o["model"]), o.get("base") or default_base()
        model = run if (run / PEER_FILE).is_file() else run / "model"
        if not (model / PEER_FILE).is_file():
            budget, steps = o.get("train_budget_s"), o.get("train_steps")
            if budget is None and steps is None:
                raise DSDNInputError(f"{str(run)!r} holds no trained {kind} peer and the method sets neither train_steps "
                                     f"nor train_budget_s: train it with `dsdn train peer --kind {kind} --out {run}`")  # fmt: skip
            model = self._train_missing(method, run)
        check_peer_base(model, base)
        self.models[method.name] = model_record(model)
        self._note_training(method, model, read_peer(model))
        pipe = peer_pipeline(model, load_base(base))
        pipe.set_progress_bar_config(disable=True)
        s = self.spec

        def run_peer(prompt, seed):
            return pipe(prompt, num_frames=s.frames, num_inference_steps=s.steps, guidance_scale=s.guidance,
                        generator=torch.Generator().manual_seed(seed), output_type="np").frames[0]  # fmt: skip

        return run_peer


# ------------------------------------------------------------------------------------------ scoring
def score_clip(video: np.ndarray, prompt: str, judge=None, object_scale: float = 1.0) -> dict[str, float]:
    """Every per-clip figure of the table for one clip ``(F, H, W, 3)`` (``object_scale``: the strict judge's,
    :func:`~dsdn.data.toy_world.object_scale` of the benchmark's toy world)."""
    from .clean import judge_strict
    from .metrics import video_metrics
    from .toy import judge_clip, parse_prompt

    out = video_metrics(video, judge=judge)
    want, got = parse_prompt(prompt), judge_clip(video)
    if want is not None:
        identity = None if judge is None else judge.object_of(video) == want["object"]
        out["clean_acc"] = float(
            judge_strict(video, want["colour"], want["motion"], identity, object_scale, want["object"]).clean
        )
        out["direction_acc"] = float(got.direction == want["motion"])
        out["colour_acc"] = float(got.colour == want["colour"])
        if identity is not None:
            out["object_acc"] = float(identity)
    out["visible_acc"] = float(got.visible_every_frame)
    out["shape_kept_acc"] = float(got.keeps_shape)
    return out


def interval(values, binary: bool = False) -> tuple[float, float, float]:
    """Mean and 95% interval: Wilson's for 0/1 outcomes, Student's t otherwise."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    n, mean = len(x), float(x.mean())
    if binary:
        ci = stats.binomtest(int(round(x.sum())), n).proportion_ci(confidence_level=0.95, method="wilson")
        return mean, float(ci.low), float(ci.high)
    if n < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def rate_text(flags) -> str:
    """The share of true ``flags`` with its 95% Wilson interval, as the docs quote it: ``"96.9% [84.3, 99.4]"``."""
    mean, low, high = interval([float(f) for f in flags], binary=True)
    return f"{100 * mean:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


@removes_new_folder_on_failure(lambda spec, out, *a, **k: out, keep=lambda out: any((out / "methods").glob("*.npz")))
def run_benchmark(spec: BenchmarkSpec, out: str | Path, progress: bool = True, command: str = "",
                  judge_report: dict | None = None, train: Callable[[str, Path, dict], Path] | None = None,
                  resume: bool = False) -> dict:  # fmt: skip
    """Generate, score and report; returns the summary (also written to ``out/results.json``).

    Each method's clips are scored as soon as it is done and kept in ``out/methods/``; with ``resume``, a method
    whose kept scores were made with the same benchmark settings, row, weights and dsdn code is not generated
    again (so a killed run continues with the method it was on).

    ``train(kind, run, options)`` trains a row's model that its folder lacks, with the row's ``train_steps`` or
    ``train_budget_s``, and returns the model folder (``dsdn benchmark quality`` passes
    :func:`dsdn.training.peers.train_for_benchmark`); without it such a row is refused."""
    from tqdm.auto import tqdm

    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    judge = None
    if spec.judge is not None:
        from .judge import CONFIG_NAME, ToyJudge

        judge = ToyJudge.load(spec.judge, spec.toy_world, "the benchmark is of", "set toy_world in the benchmark file")
        if judge_report is None:
            judge_report = json.loads((Path(spec.judge) / CONFIG_NAME).read_text()).get("report")
    from ..data.toy_world import object_scale

    scale = object_scale(spec.toy_world)
    gens = _Generators(spec, train)
    jobs = [(p, clip_seed(s, i, len(spec.prompts))) for s in spec.seeds for i, p in enumerate(spec.prompts)]
    per_clip: dict[str, list[dict]] = {}
    strip: dict[str, list[np.ndarray]] = {}
    feats: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    bar = tqdm(total=len(jobs) * len(spec.methods), desc="benchmark", disable=not progress)
    judge_weights = None if spec.judge is None else base_fingerprint(spec.judge)
    for number, method in enumerate(spec.methods):
        generate = gens.build(method)
        key = _method_key(spec, method, gens.models.get(method.name), judge_weights)
        saved = _load_method(out, number, key) if resume else None
        if saved is None:
            rows, clip_feats, seconds = [], [], 0.0
            for i, (prompt, seed) in enumerate(jobs):
                bar.set_postfix_str(method.name)
                t0 = time.perf_counter()
                video = np.clip(np.asarray(generate(prompt, seed), dtype=np.float32), 0.0, 1.0)
                seconds += time.perf_counter() - t0
                rows.append({"prompt": prompt, "seed": seed, **score_clip(video, prompt, judge, scale)})
                if judge is not None:
                    clip_feats.append(judge.clip_features(video))
                if i < STRIP_CLIPS:
                    strip.setdefault(method.name, []).append(video)
                bar.update()
            saved = {"rows": rows, "strip": strip[method.name], "seconds": seconds,
                     "feats": np.stack(clip_feats) if clip_feats else None}  # fmt: skip
            _save_method(out, number, key, saved)
        else:
            bar.update(len(jobs))
        per_clip[method.name], strip[method.name] = saved["rows"], list(saved["strip"])
        timing[method.name] = saved["seconds"] / len(jobs)
        if saved["feats"] is not None:
            feats[method.name] = saved["feats"]
    bar.close()

    summary: dict[str, Any] = {"methods": {}, "spec": _spec_dict(spec), "command": command,
                               "clips_per_method": len(jobs), "judge": judge_report, "out": str(out.resolve()),
                               "trained_peers": gens.trained, "models": gens.models,
                               "commit": checkout_commit()}  # fmt: skip
    real_name = next((m.name for m in spec.methods if m.kind == "real"), None)
    for name, rows in per_clip.items():
        figures = {}
        for key, (_, _, binary) in METRICS.items():
            values = [r[key] for r in rows if key in r]
            if values:
                figures[key] = interval(values, binary)
        if real_name is not None and name in feats and real_name in feats:
            from .metrics import frechet_distance

            # One figure per method (no interval: bootstrap resampling of so few clips is biased upward
            # so strongly that its percentile interval need not even contain the estimate).
            figures["toy_fvd"] = (frechet_distance(feats[name], feats[real_name]), float("nan"), float("nan"))
        figures["seconds_per_clip"] = (timing[name], float("nan"), float("nan"))
        summary["methods"][name] = figures
    summary["verdict"] = verdict(summary, spec)
    summary["paired"] = paired(per_clip, spec)
    (out / "per_clip.json").write_text(json.dumps(per_clip, indent=1))
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    write_plots(summary, strip, spec, out / "plots")
    return summary


def _method_key(spec: BenchmarkSpec, method: MethodSpec, model: dict | None, judge_weights: str | None) -> str:
    """What a method's scores depend on, hashed: the benchmark's settings, the row, its weights, the judge's, and
    dsdn's code."""
    import hashlib

    what = {"code": code_fingerprint(), "prompts": spec.prompts, "seeds": spec.seeds, "steps": spec.steps, "frames": spec.frames,
            "guidance": spec.guidance, "toy_world": spec.toy_world, "judge": judge_weights, "name": method.name,
            "kind": method.kind, "options": method.options, "weights": None if model is None else model["fingerprint"],
            "strip_clips": STRIP_CLIPS}  # fmt: skip
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _method_file(out: Path, number: int) -> Path:
    return out / "methods" / f"{number:02d}.npz"


def _save_method(out: Path, number: int, key: str, saved: dict) -> None:
    path = _method_file(out, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    arrays = {"strip": np.stack(saved["strip"])} | ({} if saved["feats"] is None else {"feats": saved["feats"]})
    np.savez(tmp, key=np.array(key), rows=np.array(json.dumps(saved["rows"])), seconds=np.array(saved["seconds"]),
             **arrays)  # fmt: skip
    tmp.replace(path)


def _load_method(out: Path, number: int, key: str) -> dict | None:
    """The kept scores of method ``number`` when they were made with ``key``; None otherwise."""
    path = _method_file(out, number)
    if not path.is_file():
        return None
    with np.load(path) as f:
        if str(f["key"]) != key:
            logger.info("%s was made with other settings or weights: generating again", path)
            return None
        return {"rows": json.loads(str(f["rows"])), "strip": list(f["strip"]), "seconds": float(f["seconds"]),
                "feats": f["feats"] if "feats" in f else None}  # fmt: skip


def _spec_dict(spec: BenchmarkSpec) -> dict:
    d = asdict(spec)
    d["methods"] = [{"name": m.name, "kind": m.kind, **m.options} for m in spec.methods]
    return d
