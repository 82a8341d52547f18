"""Choose a DSDN model's sampling defaults by the strict judge's clean rate on selection prompts
(``dsdn eval sweep``).

The sweep crosses the motion combiner, motion coherence γ, stream sync, shared noise, the motion
stream's guidance and the guidance, and judges every clip with :mod:`dsdn.evaluation.clean`. Its
prompts and seeds are disjoint from ``dsdn eval toy``'s (:func:`~dsdn.evaluation.toy.selection_prompts`:
none of its first 96 prompts; seeds from 1000), so no default is picked on a prompt the evaluation
reports. Without stream sync, γ and the combiner act only after denoising, so those settings share
one denoising per (shared noise, guidance pair); with it, every setting is denoised on its own. The
best setting has the highest clean rate; ties go to the higher sum of the strict checks, then to the
order of the grid.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

from ..errors import check_choice, invalid
from ..options import COMBINERS
from .toy import evaluate_combiners, evaluate_prompts

#: The settings a sweep crosses, in the order of its grid (each a key of the model's config.json).
KEYS = ("combiner", "motion_coherence", "stream_sync", "shared_noise", "carry_from", "early_coherence", "early_until",
        "motion_guidance_scale", "guidance_scale")  # fmt: skip
#: What a grid without these keys tries: no early steps (``early_coherence`` None: the setting's γ).
NO_EARLY = {"early_coherence": [None], "early_until": [0.0]}
SELECTION_SEED = 1000


def parse_values(name: str, text: str, low: float = 0.0, high: float | None = None) -> list[float]:
    """``"0.5,1"`` -> ``[0.5, 1.0]``, each in [low, high] (a one-line error naming ``name`` otherwise)."""
    try:
        values = [float(x) for x in str(text).split(",")]
    except ValueError:
        raise invalid(name, text, "must be a comma-separated list of numbers, e.g. 0.5,1") from None
    top = float("inf") if high is None else high
    if any(not low <= v <= top for v in values):
        raise invalid(name, text, f"every value must be in [{low}, {top}]")
    return values


def parse_combiners(text: str) -> list[str]:
    names = [c.strip() for c in str(text).split(",")]
    for name in names:
        check_choice("combiners", name, COMBINERS)
    return names


def sweep_sampling(pipe, prompts: list[str], grid: dict[str, list], steps: int = 25, object_scale: float = 1.0,
                   on_result: Callable[[dict, dict], None] | None = None, judge=None) -> list[tuple[dict, dict]]:  # fmt: skip
    """Every setting of ``grid`` (``{key of KEYS: values}``) judged on ``prompts``; returns ``(setting, result)``
    pairs in grid order, each result as :func:`~dsdn.evaluation.toy.evaluate_prompts` gives it. ``on_result``
    is called as each one is known. Object carry acts on the synced video, so a setting that carries
    (``carry_from`` < 1) without stream sync is left out, and so is one with early steps (``early_until`` > 0).
    Without early steps, or with ``early_coherence`` ``None``, a setting's ``early_coherence`` is its γ. With a
    ``judge`` (:class:`~dsdn.evaluation.judge.ToyJudge`) a clean clip must also show the asked object (identity)."""
    grid = {**NO_EARLY, **grid}
    settings = []
    for values in itertools.product(*(grid[k] for k in KEYS)):
        s = dict(zip(KEYS, values))
        if s["early_until"] <= 0.0 or s["early_coherence"] is None:
            s["early_coherence"] = s["motion_coherence"]
        if (s["stream_sync"] > 0.0 or (s["carry_from"] >= 1.0 and s["early_until"] <= 0.0)) and s not in settings:
            settings.append(s)
    found: dict[int, dict] = {}
    for rho, mg, cg in itertools.product(grid["shared_noise"], grid["motion_guidance_scale"], grid["guidance_scale"]):
        common = {"shared_noise": rho, "motion_guidance_scale": mg, "guidance_scale": cg}
        posthoc = [(g, c) for c in grid["combiner"] for g in grid["motion_coherence"]]
        shared = {} if 0.0 not in grid["stream_sync"] else evaluate_combiners(
            pipe, prompts, posthoc, seed=SELECTION_SEED, steps=steps, progress=False, object_scale=object_scale,
            judge=judge, stream_sync=0.0, carry_from=1.0, **common)  # fmt: skip
        for i, setting in enumerate(settings):
            if (setting["shared_noise"], setting["motion_guidance_scale"], setting["guidance_scale"]) != (rho, mg, cg):
                continue
            if setting["stream_sync"] == 0.0:
                result = shared[(setting["motion_coherence"], setting["combiner"])]
            else:
                result = evaluate_prompts(pipe, prompts, seed=SELECTION_SEED, steps=steps, progress=False,
                                          object_scale=object_scale, judge=judge, **setting)  # fmt: skip
            found[i] = result
            if on_result is not None:
                on_result(setting, result)
    return [(settings[i], found[i]) for i in sorted(found)]


def best_setting(results: list[tuple[dict, dict]]) -> dict:
    """The setting with the highest clean rate (ties: the higher sum of the strict checks, then grid order)."""
    best, _ = max(results, key=lambda sr: (sr[1]["strict"]["clean"], sum(sr[1]["strict"].values())))
    return best


def against_best(results: list[tuple[dict, dict]], best: dict) -> list[str]:
    """One line per other setting: its clips that are clean where the best setting's are not, and the reverse,
    with the exact McNemar test (the settings are judged on the same prompts and seeds, so they pair)."""
    from .compare import compare_records

    records = next(r["records"] for s, r in results if s == best)
    lines = []
    for setting, result in results:
        if setting == best:
            continue
        c = compare_records(records, result["records"], ("clean",))["clean"]
        changed = _shown({k: v for k, v in setting.items() if v != best[k]})
        lines.append(f"  {changed}: clean only with the best {c['only_a']}, only with this {c['only_b']} "
                     f"(McNemar p={c['p']:.3f})")  # fmt: skip
    return lines


def _shown(setting: dict) -> str:
    """``key=value`` pairs of a setting, floats in their shortest form."""
    return "  ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in setting.items())


def format_result(setting: dict, result: dict) -> str:
    """One line: the setting, then its strict checks' rates."""
    shown = _shown(setting)
    rates = "  ".join(f"{k}={v:.1%}" for k, v in result["strict"].items())
    return f"{shown}  {rates}  (n={result['clips']})"


def write_defaults(model_dir: str | Path, setting: dict) -> Path:
    """Store ``setting`` as the sampling defaults in the model's ``config.json`` (a pipeline folder's is in
    ``adapter/``)."""
    from ..model_layout import adapter_folder
    from ..video_io import atomic_write_text

    path = adapter_folder(model_dir) / "config.json"
    config = json.loads(path.read_text())
    config.update(setting)
    atomic_write_text(path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path
