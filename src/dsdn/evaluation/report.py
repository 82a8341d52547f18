"""The benchmark's report: the plain-words verdict from the intervals, the Markdown table, the section of a
Markdown file it replaces, and the plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .benchmark import BenchmarkSpec

#: Metric key -> (label, better, binary).
METRICS = {
    "clean_acc": ("clean", "higher", True),
    "warping_error": ("warping error", "lower", False),
    "static_flicker": ("static flicker", "lower", False),
    "dynamic_degree": ("dynamic degree", "closer to real", False),
    "direction_acc": ("direction acc.", "higher", True),
    "colour_acc": ("colour acc.", "higher", True),
    "object_acc": ("object acc.", "higher", True),
    "visible_acc": ("visible every frame", "higher", True),
    "shape_kept_acc": ("shape kept", "higher", True),
    "frame_consistency": ("frame consistency", "higher", False),
    "subject_consistency": ("subject consistency (VBench)", "higher", False),
    "motion_smoothness": ("motion smoothness (VBench)", "higher", False),
    "temporal_flickering": ("temporal flickering (VBench)", "higher", False),
}


#: The options a plain ``dsdn`` row (a model as it samples by default, not an ablation) may have.
PLAIN = {"model", "train_steps"}


def verdict(summary: dict, spec: BenchmarkSpec) -> list[str]:
    """Plain answers, computed from the intervals: does DSDN flicker less than each peer at a
    dynamic degree within 20% of real videos, with equal or better toy-world text alignment?

    Answered for every plain ``dsdn`` row (no option but ``model`` and ``train_steps``), e.g. the
    shipped model and a model trained on the peers' budget. Each is compared with every row that is
    not ``real`` and not a DSDN row of another model (its own ablations are compared; another
    model's are not)."""
    real = next((m.name for m in spec.methods if m.kind == "real"), None)
    pairs = comparisons(spec)
    if not pairs or real is None:
        return ["No verdict: the benchmark needs a `real` row and a plain `dsdn` row (no ablation options)."]
    lines = []
    for dsdn, others in pairs.items():
        lines += _verdict_lines(summary["methods"], real, dsdn, others)
    return lines


def comparisons(spec: BenchmarkSpec) -> dict[str, list[str]]:
    """Every plain ``dsdn`` row -> the rows it is compared with: every row that is not ``real`` and not a DSDN
    row of another model."""
    plain = [m for m in spec.methods if m.kind == "dsdn" and not m.options.keys() - PLAIN]
    return {dsdn.name: [m.name for m in spec.methods if m.kind != "real" and m.name != dsdn.name
                        and not (m.kind == "dsdn" and m.options.get("model") != dsdn.options.get("model"))]
            for dsdn in plain}  # fmt: skip


#: The rates compared clip by clip in the paired table.
PAIRED_RATES = ("clean_acc", "object_acc", "direction_acc")


def paired(per_clip: dict[str, list[dict]], spec: BenchmarkSpec) -> dict[str, dict[str, dict]]:
    """Each plain DSDN row against each row of :func:`comparisons`, clip by clip (every method judged the same
    prompts and seeds): for each of :data:`PAIRED_RATES`, the clips only DSDN gets right, only the other, and the
    exact McNemar p; and the mean warping-error difference (DSDN − other) with its Student-t 95% interval."""
    from .benchmark import interval
    from .compare import mcnemar_exact

    out: dict[str, dict[str, dict]] = {}
    for dsdn, others in comparisons(spec).items():
        out[dsdn] = {}
        for other in others:
            a, b = per_clip[dsdn], per_clip[other]
            row = {}
            for key in PAIRED_RATES:
                if all(key in r for r in a + b):
                    only_a = sum(x[key] > 0.5 >= y[key] for x, y in zip(a, b))
                    only_b = sum(y[key] > 0.5 >= x[key] for x, y in zip(a, b))
                    row[key] = {"only_dsdn": only_a, "only_other": only_b, "p": mcnemar_exact(only_a, only_b)}
            row["warping_error_difference"] = interval([x["warping_error"] - y["warping_error"] for x, y in zip(a, b)])
            out[dsdn][other] = row
    return out


def paired_table(result: dict[str, dict[str, dict]]) -> str:
    """The Markdown table of :func:`paired`."""
    keys = [k for k in PAIRED_RATES if any(k in row for rows in result.values() for row in rows.values())]
    head = [f"{METRICS[k][0]}: clips only DSDN / only it (McNemar p)" for k in keys]
    lines = ["| DSDN row vs | " + " | ".join(head) + " | warping error, DSDN − it [95%] |",
             "|---" * (len(keys) + 2) + "|"]  # fmt: skip
    for dsdn, rows in result.items():
        for other, row in rows.items():
            cells = [f"{row[k]['only_dsdn']} / {row[k]['only_other']} ({row[k]['p']:.3g})" if k in row else "–"
                     for k in keys]  # fmt: skip
            mean, lo, hi = row["warping_error_difference"]
            lines.append(f"| {dsdn} vs {other} | " + " | ".join(cells) + f" | {mean:+.4f} [{lo:+.4f}, {hi:+.4f}] |")
    return "\n".join(lines)


def _verdict_lines(methods: dict, real: str, dsdn: str, others: list[str]) -> list[str]:
    d, r = methods[dsdn], methods[real]
    lines = []
    dd_ratio = d["dynamic_degree"][0] / r["dynamic_degree"][0] if r["dynamic_degree"][0] > 0 else float("nan")
    if abs(dd_ratio - 1.0) <= 0.2:
        why = "within 20%, so its flicker figures compare at real-video motion"
    elif dd_ratio > 1.0:
        why = ("not within 20%: its flow is larger than the real motion (jitter and flicker count as motion), so the "
               "flicker comparison is not at matched motion")  # fmt: skip
    else:
        why = "not within 20%: it moves less than real videos, so a lower warping error may only mean less motion"
    lines.append(f"{dsdn}'s dynamic degree is {dd_ratio:.0%} of the real videos' ({why}).")
    align = [k for k in ("clean_acc", "direction_acc", "colour_acc", "object_acc") if k in d]
    for peer in others:
        p = methods[peer]
        we_d, we_p = d["warping_error"], p["warping_error"]
        if we_d[2] < we_p[1]:
            flicker = "lower warping error (intervals do not overlap)"
        elif we_d[1] > we_p[2]:
            flicker = "higher warping error (intervals do not overlap)"
        else:
            flicker = "no clear warping-error difference (intervals overlap)"
        worse = [METRICS[k][0] for k in align if k in p and d[k][2] < p[k][1]]
        better = [METRICS[k][0] for k in align if k in p and d[k][1] > p[k][2]]
        text = "worse " + ", ".join(worse) if worse else "equal or better text alignment (no interval clearly below)"
        if better and not worse:
            text += "; clearly better " + ", ".join(better)
        lines.append(f"{dsdn} vs {peer}: {flicker}; {text}".rstrip(".") + ".")
    return lines


def _fmt(v: tuple[float, float, float], key: str) -> str:
    mean, lo, hi = v
    if key in ("toy_fvd", "seconds_per_clip"):  # single figures
        return f"{mean:.2f}"
    if key.endswith("_acc"):  # percentages with their (asymmetric) Wilson interval
        return f"{100 * mean:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"
    digits = 3 if abs(mean) < 100 else 0
    if math.isnan(lo):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"


#: The report's two tables: what a person sees in each clip, then how it moves and flickers.
TABLES = (
    ("clean_acc", "object_acc", "direction_acc", "colour_acc", "shape_kept_acc", "visible_acc"),
    ("warping_error", "static_flicker", "dynamic_degree", "subject_consistency", "motion_smoothness",
     "temporal_flickering", "frame_consistency", "toy_fvd", "seconds_per_clip"),
)  # fmt: skip


def markdown_table(summary: dict, keys: tuple[str, ...] | None = None) -> str:
    """A Markdown table of every method's ``keys`` (default: every figure it has) that some method has."""
    methods = summary["methods"]
    keys = keys or (*METRICS, "toy_fvd", "seconds_per_clip")
    keys = [k for k in keys if any(k in f for f in methods.values())]
    label = {**{k: f"{v[0]} ({v[1]})" for k, v in METRICS.items()}, "toy_fvd": "toy FVD (lower)",
             "seconds_per_clip": "s / clip"}  # fmt: skip
    lines = ["| method | " + " | ".join(label[k] for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, figures in methods.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(figures[k], k) if k in figures else "–" for k in keys) + " |")
    return "\n".join(lines)


def models_lines(summary: dict) -> list[str]:
    """Which weights every row ran (fingerprints; the shipped model's commit), and a loud line when a plain DSDN
    row (no ablation option) ran other weights than the shipped default model's."""
    models, spec = summary.get("models") or {}, summary["spec"]
    if not models:
        return []
    lines = []
    plain = [m["name"] for m in spec["methods"] if m["kind"] == "dsdn" and not set(m) - {"name", "kind", *PLAIN}]
    for name in plain:
        if name in models and not models[name]["shipped"]:
            lines += [f"> **The {name} row is not the shipped default model**: it ran `{models[name]['folder']}` "
                      f"(weights {models[name]['fingerprint']}).", ""]  # fmt: skip
    parts = []
    for name, m in models.items():
        where = "the shipped default model" if m["shipped"] else f"`{m['folder']}`"
        committed = f", committed in {m['committed_in']}" if m.get("committed_in") else ", not committed"
        parts.append(f"{name}: {where} (weights {m['fingerprint']}{committed})")
    commit = summary.get("commit")
    lines += [("Run at commit " + commit + ". " if commit else "") + "Weights of each row: " + "; ".join(parts) + ".",
              ""]  # fmt: skip
    return lines


QUALITY_BEGIN, QUALITY_END = "<!-- dsdn benchmark quality: begin -->", "<!-- dsdn benchmark quality: end -->"


def report_section(summary: dict, plots: str = "plots") -> str:
    """The Markdown of one quality benchmark: settings, table, judge accuracy, verdict, command."""
    n, spec = summary["clips_per_method"], summary["spec"]
    lines = [
        f"Reproduce: `{summary['command']}`" if summary.get("command") else "",
        "",
        f"{n} clips per method ({len(spec['prompts'])} prompts × seeds {spec['seeds']}; under seed s, prompt i's clip "
        f"draws its own noise, seed s·{len(spec['prompts'])} + i, the same for every method), {spec['frames']} frames, "
        f"{spec['steps']} denoising steps, guidance {spec['guidance']}. Accuracies are percentages with Wilson 95% "
        "intervals; other figures are mean ± the half-width of a Student-t 95% interval. Toy FVD is one figure per "
        "method, the Fréchet distance of the judge's clip features to the real row's; with this few clips its "
        "finite-sample bias is large, so compare methods with each other only. s / clip is generation wall time on "
        "the machine that ran it.",
        "",
        *models_lines(summary),
        "What a person sees in each clip:",
        "",
        markdown_table(summary, TABLES[0]),
        "",
        "How the clips move and flicker (VBench's formulas, computed offline: `dsdn.evaluation.vbench`):",
        "",
        markdown_table(summary, TABLES[1]),
        "",
    ]
    trained = summary.get("trained_peers") or {}
    if trained:
        parts = [f"{name}, {t['steps']:,} steps in {t['train_seconds']:,.0f} s ({t['trainable_parameters'] / 1e6:.2f} M "
                 "trainable parameters)" for name, t in trained.items()]  # fmt: skip
        lines += ["Trained models as used here (from each peer's `peer.json` or DSDN run's `metrics.jsonl`): "
                  + "; ".join(parts) + ".", ""]  # fmt: skip
    judge = summary.get("judge")
    if judge:
        a, b = judge["test_train_split"], judge["test_heldout_split"]
        lines += [
            f"The judge (object classifier) on unseen real clips: {a['clip_acc']:.1%} of {a['clips']} training-split "
            f"clips and {b['clip_acc']:.1%} of {b['clips']} held-out-split clips (frame accuracy {a['frame_acc']:.1%} "
            f"/ {b['frame_acc']:.1%}).",
            "",
        ]
    lines += ["**Verdict** (computed from the intervals above):", "", *[f"* {v}" for v in summary["verdict"]], ""]
    if summary.get("paired"):
        lines += [
            "**Clip by clip** (every method drew the same prompts and seeds, so the clips pair): the clips only "
            "one of the two gets right, with the exact McNemar test, and the mean difference of warping error "
            "with its 95% interval (below zero: DSDN flickers less).",
            "",
            paired_table(summary["paired"]),
            "",
        ]
    lines += [
              f"![metrics with 95% intervals]({plots}/metrics.png)", "",
              *([f"![clean rate against warping error]({plots}/clean_vs_warping.png)", ""]
                if _scatter_applies(summary["methods"]) else []),
              f"![the first prompts with the first seed, every method]({plots}/frames.png)"]  # fmt: skip
    return "\n".join(lines).strip("\n")


def write_report_section(summary: dict, path: str | Path) -> Path:
    """Replace the quality section of the Markdown file ``path`` (created if missing), atomically."""
    import os

    path = Path(path)
    plots = Path(os.path.relpath(Path(summary["out"]) / "plots", path.resolve().parent)).as_posix()
    return replace_marked_section(path, QUALITY_BEGIN, QUALITY_END, report_section(summary, plots))


def replace_marked_section(path: str | Path, begin: str, end: str, body: str) -> Path:
    """Put ``body`` between the ``begin``/``end`` marker lines of ``path`` (appended if absent), atomically;
    the rest of the file is kept as it is."""
    from ..video_io import atomic_write_text

    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    return atomic_write_text(path, text)


def write_plots(summary: dict, strip: dict[str, np.ndarray], spec: BenchmarkSpec, folder: Path) -> None:
    """``metrics.png`` (one bar chart per metric, 95% intervals as error bars), ``frames.png`` (the strip clips:
    the first prompts with the first seed, one row per method) and ``clean_vs_warping.png`` (every method's clean
    rate against its warping error)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = summary["methods"]
    names = list(methods)
    keys = [k for k in (*METRICS, "toy_fvd") if any(k in f for f in methods.values())]
    cols = 3
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        vals = [methods[n].get(key, (np.nan, np.nan, np.nan)) for n in names]
        mean = np.array([v[0] for v in vals])
        err = np.array([[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]])
        err = np.clip(np.nan_to_num(err), 0.0, None)  # rounding can put a bound a hair inside the mean
        ax.bar(range(len(names)), mean, yerr=err, capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
        label = "toy FVD (lower)" if key == "toy_fvd" else f"{METRICS[key][0]} ({METRICS[key][1]})"
        ax.set_title(label, fontsize=9)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    _save_figure(fig, folder / "metrics.png")
    plt.close(fig)

    _frame_strips(plt, strip, spec, folder / "frames.png")
    if _scatter_applies(methods):
        _clean_against_warping(plt, methods, folder / "clean_vs_warping.png")


def _scatter_applies(methods: dict) -> bool:
    return all(k in f for f in methods.values() for k in ("clean_acc", "warping_error"))


def _frame_strips(plt, strip: dict[str, list[np.ndarray]], spec: BenchmarkSpec, path: Path) -> None:
    """One row per method: the frames of each of its strip clips (the same prompts and seed for every method),
    side by side."""
    from .benchmark import clip_seed

    clips = min(len(v) for v in strip.values())
    frames = len(next(iter(strip.values()))[0])
    cols = clips * frames + clips - 1  # a blank column between clips
    fig, axes = plt.subplots(len(strip), cols, figsize=(0.95 * cols + 1.8, 1.05 * len(strip) + 0.4), squeeze=False)
    for r, (name, videos) in enumerate(strip.items()):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            k, f = divmod(c, frames + 1)
            if f == frames:
                ax.axis("off")
                continue
            ax.imshow(videos[k][f])
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    titles = "      |      ".join(f"{p!r}" for p in spec.prompts[:clips])
    seeds = ", ".join(str(clip_seed(spec.seeds[0], i, len(spec.prompts))) for i in range(min(clips, len(spec.prompts))))
    fig.suptitle(f"{titles}  (seeds {seeds})", fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def _clean_against_warping(plt, methods: dict, path: Path) -> None:
    """Every method at once: its clean rate against its warping error, each with its 95% interval."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for i, (name, f) in enumerate(methods.items()):
        (c, c_lo, c_hi), (w, w_lo, w_hi) = f["clean_acc"], f["warping_error"]
        xerr = np.clip(np.nan_to_num([[w - w_lo], [w_hi - w]]), 0.0, None)
        yerr = np.clip(np.nan_to_num([[100 * (c - c_lo)], [100 * (c_hi - c)]]), 0.0, None)
        ax.errorbar(w, 100 * c, xerr=xerr, yerr=yerr, fmt="o", capsize=3, color=f"C{i % 10}", label=name)
    ax.set_xlabel("warping error (lower: less flicker)")
    ax.set_ylabel("clean clips, % (higher)")
    ax.set_title("Clean rate against warping error, 95% intervals", fontsize=9)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def _save_figure(fig, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
