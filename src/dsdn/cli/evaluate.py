"""``dsdn eval``: the toy-world evaluation, video metrics and the learned judge."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import DSDNInputError
from ..evaluation.configs import JudgeTrainConfig, ToyEvalConfig
from ..paths import check_output_file
from .common import (
    Scheduler,
    app,
    boundary,
    config_command,
)

eval_app = typer.Typer(help="Evaluate a model.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("toy", epilog="Example: dsdn eval toy --prompts 48 --json toy-eval.json")
@boundary
@config_command(ToyEvalConfig)
def eval_toy_cmd(cfg: ToyEvalConfig, quiet: bool) -> None:
    """Judge generated toy-world clips by their pixels: motion direction (Farneback flow over the
    object), colour and visibility, on training-vocabulary prompts and on held-out compositions;
    also the direction of each stream alone (content: γ = 0; motion integrated from frame 1: γ = 1)."""
    from ..evaluation.toy import run_toy_eval

    run_toy_eval(cfg, progress=not quiet, report=print_toy_figures)


def print_toy_figures(split: str, r: dict) -> None:
    """What ``dsdn eval toy`` prints: the sampling settings, then each split's figures."""
    from ..evaluation.toy import format_direction_by_motion

    if split == "sampling":
        sampling = r
        typer.echo(f"sampling: {sampling['steps']} steps, guidance {sampling['guidance_scale']}, "
                   f"γ {sampling['motion_coherence']} "
                   f"({sampling['combiner']} combiner), stream sync {sampling['stream_sync']}, "
                   f"shared noise {sampling['shared_noise']}, cross-frame attention {sampling['cross_frame_attention']}, "
                   f"carry from {sampling['carry_from']}, "
                   + (f"γ {sampling['early_coherence']} for the first {sampling['early_until']} of the steps, "
                      if sampling["early_until"] > 0 else "")
                   + f"motion guidance {sampling['motion_guidance_scale']}, {sampling['scheduler']}"
                   + (f", step cache every {sampling['cache_interval']} at depth {sampling['cache_depth']}"
                      if sampling["cache_interval"] > 1 else ""))  # fmt: skip
        return
    extra = "" if "object_acc" not in r else (
        f"  object={r['object_acc']:.1%}  frame-consistency={r['frame_consistency']:.3f}"
    )  # fmt: skip
    extra += (f"  (direction of the content stream alone={r['content_stream_direction_acc']:.1%}, "
              f"motion stream alone={r['motion_stream_direction_acc']:.1%})")  # fmt: skip
    strict = r["strict"]
    typer.echo(
        f"{split:8s} clips={r['clips']:3d}  CLEAN={r['clean_acc']:.1%}"
        + (f" ({strict['clean_pixels']:.1%} without identity)" if "clean_pixels" in strict else "")
        + f"  (one object={strict['one_object']:.1%}  "
        f"no ghost={strict['no_ghost']:.1%}"
        + (f"  no marks={strict['no_marks']:.1%} of shapes" if "no_marks" in strict else "")
        + f"  same shape={strict['same_shape']:.1%}  "
        f"same background={strict['same_background']:.1%}  "
        f"direction={strict.get('direction_ok', float('nan')):.1%}  steady path={strict['steady_path']:.1%}  "
        f"colour={strict['colour_ok']:.1%}"
        + (f"  identity={strict['identity_ok']:.1%}" if "identity_ok" in strict else "")
        + ")"
    )
    typer.echo(f"{'':8s} by object kind: " + "; ".join(
        f"{kind}s ({k['clips']}) clean {k['clean']:.1%}, same shape {k['same_shape']:.1%}, one object "
        f"{k['one_object']:.1%}" + (f", identity {k['identity_ok']:.1%}" if "identity_ok" in k else "")
        for kind, k in r["strict_by_kind"].items()))  # fmt: skip
    typer.echo(
        f"{'':8s} lenient: direction={r['direction_acc']:.1%}  colour={r['colour_acc']:.1%}  "
        f"visible-every-frame={r['visible_acc']:.1%}  shape-kept={r['shape_kept_acc']:.1%}{extra}"
    )
    for label, k in (("", "direction_by_motion"), ("content stream alone, ", "content_stream_direction_by_motion"),
                     ("motion stream alone, ", "motion_stream_direction_by_motion")):  # fmt: skip
        typer.echo(f"{'':8s} {label}direction by motion: {format_direction_by_motion(r[k])}")


@eval_app.command("compare", epilog="Example: dsdn eval compare old.json new.json --check clean --check same_shape")
@boundary
def eval_compare_cmd(
    a: str = typer.Argument(..., help="A 'dsdn eval toy --json' file (A)."),
    b: str = typer.Argument(..., help="Another, of the same prompts and seeds (B)."),
    check: Optional[list[str]] = typer.Option(
        None,
        "--check",
        "-c",
        help="A check to compare (repeatable; default: all that both files hold): clean, "
        "same_shape, same_background, one_object, no_ghost, no_marks, strict_direction, steady_path, identity, "
        "clean_pixels, direction, "
        "colour, visible, shape.",
    ),
    split: str = typer.Option("train", help="train (the training vocabulary) or heldout (held-out compositions)."),
    common: bool = typer.Option(False, "--common", help="Compare only the clips (prompt, seed) both files judged."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Also write the comparison as JSON."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Compare two evaluations clip by clip: each check's rate with its interval, the clips only one gets
    right, and the exact McNemar test on them."""
    import json

    from ..evaluation.compare import CHECKS, LENIENT, compare_records, format_comparison, read_records

    if json_out:
        check_output_file("json", json_out)
    ra, rb = read_records(a, split), read_records(b, split)
    if not check:
        strict = all("strict" in r for r in ra + rb)
        check = [c for c in CHECKS if strict or c in LENIENT]
    result = compare_records(ra, rb, tuple(check), common=common)
    typer.echo(format_comparison(result))
    if json_out:
        from pathlib import Path

        from ..video_io import atomic_write_text

        atomic_write_text(
            Path(json_out), json.dumps({"a": a, "b": b, "split": split, "checks": result}, indent=2) + "\n"
        )
        typer.echo(f"wrote {json_out}")


@eval_app.command("sweep", epilog=(
    "Example: dsdn eval sweep --model ./my-dsdn --gammas 0.5,0.75 --syncs 1 --shared-noises 0.5,0.8"
))  # fmt: skip
@boundary
def eval_sweep_cmd(
    model: str = typer.Option(..., "--model", "-m", help="DSDN model folder whose sampling defaults to choose."),
    combiners: str = typer.Option("least_squares", help="Motion combiners to try, comma-separated."),
    gammas: str = typer.Option("0.5,0.75,1", help="Motion coherences γ to try, comma-separated."),
    syncs: str = typer.Option("0,1", help="Stream sync strengths to try."),
    shared_noises: str = typer.Option("0,0.5,0.8", help="Shares of the content noise common to all frames to try."),
    carry_froms: str = typer.Option(
        "1", help="Shares of the steps after which frame 1's object is carried (1: never)."
    ),
    early_coherences: Optional[str] = typer.Option(
        None, help="γ of the early steps to try (default: each --gammas value, i.e. no early steps)."
    ),
    early_untils: str = typer.Option("0", help="Shares of the steps synced with the early γ to try (0: none)."),
    motion_guidances: str = typer.Option("15", help="Motion-stream guidance scales to try."),
    guidances: str = typer.Option("7.5", help="Guidance scales to try."),
    scheduler: Scheduler = "ddim",
    prompts: int = typer.Option(32, help="Selection prompts (none among dsdn eval toy's)."),
    steps: Optional[int] = typer.Option(
        None, help="Denoising steps (default: the model's, else 25); --write stores it with the best setting."
    ),
    toy_world: Optional[str] = typer.Option(
        None, help="Toy-world version the model learned (v3: larger objects; default: the model's, else v1)."
    ),
    judge: Optional[str] = typer.Option(
        None, help="A judge from 'dsdn eval train-judge': a clean clip must also show the asked object."
    ),
    write: bool = typer.Option(False, "--write", help="Store the best setting in the model's config.json."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Also write every setting's figures as JSON."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Choose a model's sampling defaults: every combination of the settings, judged by the strict judge's
    clean rate on selection prompts that the evaluation never uses."""
    import json

    from ..data.toy_world import VERSIONS, object_scale
    from ..errors import check_choice, check_int
    from ..evaluation.judge import load_judge_for
    from ..evaluation.sweep import (
        against_best,
        best_setting,
        format_result,
        parse_combiners,
        parse_values,
        sweep_sampling,
        write_defaults,
    )
    from ..evaluation.toy import selection_prompt_count, selection_prompts
    from ..schedulers import SCHEDULERS, make_scheduler

    grid = {
        "combiner": parse_combiners(combiners),
        "motion_coherence": parse_values("gammas", gammas, 0.0, 1.0),
        "stream_sync": parse_values("syncs", syncs, 0.0, 1.0),
        "shared_noise": parse_values("shared_noises", shared_noises, 0.0, 1.0),
        "carry_from": parse_values("carry_froms", carry_froms, 0.0, 1.0),
        "early_coherence": [None]
        if early_coherences is None
        else parse_values("early_coherences", early_coherences, 0.0, 1.0),
        "early_until": parse_values("early_untils", early_untils, 0.0, 1.0),
        "motion_guidance_scale": parse_values("motion_guidances", motion_guidances),
        "guidance_scale": parse_values("guidances", guidances),
    }
    check_int("prompts", prompts, 1, selection_prompt_count())
    check_choice("scheduler", scheduler, SCHEDULERS)
    if write and scheduler != "ddim":
        raise DSDNInputError(f"--write with --scheduler {scheduler}: a model's stored defaults are for its own "
                             "scheduler (ddim); choose the setting with ddim, or drop --write.")  # fmt: skip
    if steps is not None:
        check_int("steps", steps, 1)
    if toy_world is not None:
        check_choice("toy_world", toy_world, VERSIONS)
    if json_out:
        check_output_file("json", json_out)
    from ..generate import model_toy_world, resolve_model_dir
    from ..pipeline import DSDNPipeline

    toy_world = toy_world or model_toy_world(resolve_model_dir(model)) or "v1"
    classifier = None if judge is None else load_judge_for(judge, toy_world)
    pipe = DSDNPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler(scheduler, pipe.scheduler.config)
    steps = pipe.default_steps() if steps is None else steps
    results = sweep_sampling(pipe, selection_prompts(prompts), grid, steps=steps, object_scale=object_scale(toy_world),
                             on_result=lambda s, r: typer.echo(format_result(s, r)), judge=classifier)  # fmt: skip
    best = best_setting(results)
    typer.echo("best " + "  ".join(f"{k}={v}" for k, v in best.items()))
    if len(results) > 1:
        typer.echo("against the best, clip by clip:\n" + "\n".join(against_best(results, best)))
    if json_out:
        from pathlib import Path

        from ..video_io import atomic_write_text

        rows = [{"setting": s, "clips": r["clips"], "strict": r["strict"], "records": r["records"]} for s, r in results]
        figures = {"model": model, "scheduler": scheduler, "steps": steps, "best": best, "results": rows}
        atomic_write_text(Path(json_out), json.dumps(figures, indent=2) + "\n")
        typer.echo(f"wrote {json_out}")
    if write:
        typer.echo(f"wrote the best setting to {write_defaults(model, {**best, 'num_inference_steps': steps})}")


@eval_app.command("video", epilog="Example: dsdn eval video dsdn.mp4 framewise.mp4 --judge outputs/judge --json m.json")
@boundary
def eval_video_cmd(
    videos: list[str] = typer.Argument(..., help="Video files (mp4, webm, gif...)."),
    judge: Optional[str] = typer.Option(None, help="A judge from 'dsdn eval train-judge': adds frame consistency."),
    clip: Optional[str] = typer.Option(None, help="Local CLIP folder: adds the paper's CLIP frame consistency."),
    prompt: Optional[str] = typer.Option(None, help="With --clip: the prompt for CLIP text alignment."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write every figure as JSON."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Flicker (warping error, static flicker), dynamic degree and consistency of existing videos."""
    import json
    from pathlib import Path

    from ..evaluation.metrics import load_clip, video_metrics
    from ..video_io import read_video

    check_output_file("json", json_out)
    models = {}
    if judge is not None:
        from ..evaluation.judge import ToyJudge

        models["judge"] = ToyJudge.load(judge)
    if clip is not None:
        models["clip"] = load_clip(clip)
    results = {}
    for path in videos:
        if not Path(path).is_file():
            raise DSDNInputError(f"{path!r} is not a file")
        try:
            frames = read_video(path)
        except Exception as e:  # PyAV raises many types for unreadable files
            raise DSDNInputError(f"{path!r} could not be decoded as a video ({type(e).__name__}: {e})") from None
        if len(frames) < 2:
            raise DSDNInputError(f"{path!r} has {len(frames)} frame(s): the metrics need at least 2")
        results[path] = video_metrics(frames, prompt=prompt, **models)
    for path, figures in results.items():
        typer.echo(path + "  " + "  ".join(f"{k}={v:.4f}" for k, v in figures.items()))
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2))


@eval_app.command("train-judge", epilog="Example: dsdn eval train-judge --out outputs/judge")
@boundary
@config_command(JudgeTrainConfig)
def train_judge_cmd(cfg: JudgeTrainConfig, quiet: bool) -> None:
    """Train the toy-world judge (a small CNN naming the object in a frame) on real toy-world frames,
    and print its own accuracy on unseen real clips."""
    from ..evaluation.judge import train_judge

    report = train_judge(cfg, progress=not quiet)
    for split in ("test_train_split", "test_heldout_split"):
        r = report[split]
        typer.echo(f"{split}: clips={r['clips']} frame accuracy={r['frame_acc']:.1%} clip accuracy={r['clip_acc']:.1%}")
    typer.echo(f"wrote {cfg.out} ({report['wall_seconds']} s)")
