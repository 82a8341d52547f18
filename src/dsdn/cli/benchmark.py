"""``dsdn benchmark``: quality against the peers, and speed."""

from __future__ import annotations

from typing import Optional

import typer

from ..errors import DSDNInputError
from ..paths import check_output_file, check_output_folder
from .common import app, boundary

bench_app = typer.Typer(
    help="Benchmark DSDN against its peers: quality (flicker, alignment) and speed.", no_args_is_help=True
)
app.add_typer(bench_app, name="benchmark")


@bench_app.command("quality", epilog="Example: dsdn benchmark quality benchmarks/toy.yaml --report BENCHMARKS.md")
@boundary
def bench_quality_cmd(
    config: str = typer.Argument("benchmarks/toy.yaml", help="YAML file: prompts, seeds, settings and methods."),
    out: str = typer.Option("outputs/benchmark", help="Folder for results.json, per_clip.json and plots/."),
    report: Optional[str] = typer.Option(
        None, help="Markdown file whose quality section is (re)written, e.g. BENCHMARKS.md."
    ),
    resume: bool = typer.Option(
        False, help="Keep the methods a killed run in --out already scored with the same settings, weights and code."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Generate every method of CONFIG on its prompts and seeds, score every clip (flicker, dynamic
    degree, toy-world alignment, judge consistency, toy FVD), and write a table with 95% intervals,
    a computed verdict and plots. A missing judge is trained first (about a minute)."""
    from pathlib import Path

    from ..evaluation.benchmark import BenchmarkSpec, run_benchmark
    from ..evaluation.report import markdown_table, write_report_section
    from ..training.peers import train_for_benchmark

    check_output_folder("out", out)
    check_output_file("report", report)
    spec = BenchmarkSpec.from_yaml(config)
    judge_report = None
    if spec.judge is not None and not (Path(spec.judge) / "judge_config.json").is_file():
        from ..evaluation.judge import JudgeTrainConfig, train_judge

        typer.echo(f"training the toy-world judge into {spec.judge}")
        judge_report = train_judge(JudgeTrainConfig(out=spec.judge, toy_world=spec.toy_world), progress=not quiet)
    command = f"dsdn benchmark quality {config} --out {out}" + (f" --report {report}" if report else "")
    summary = run_benchmark(
        spec,
        out,
        progress=not quiet,
        command=command,
        judge_report=judge_report,
        train=train_for_benchmark,
        resume=resume,
    )

    typer.echo(markdown_table(summary))
    for line in summary["verdict"]:
        typer.echo(f"* {line}")
    if report:
        write_report_section(summary, report)
        typer.echo(f"wrote {report}")
    typer.echo(f"wrote {out}/results.json and {out}/plots/")


@bench_app.command("speed", epilog="Example: dsdn benchmark speed --report BENCHMARKS.md")
@boundary
def bench_speed_cmd(
    scales: str = typer.Option("tiny,sd15", help="Comma-separated: tiny (the shipped model), sd15 (random weights)."),
    tiny_frames: str = typer.Option("8,16,32", help="Frame counts timed at the tiny scale."),
    tiny_sizes: str = typer.Option("64,128", help="Resolutions (pixels) timed at the tiny scale."),
    sd15_frames: str = typer.Option("8,16,32", help="Frame counts timed at the sd15 scale."),
    sd15_sizes: str = typer.Option("64", help="Resolutions (pixels) timed at the sd15 scale."),
    clip_steps: int = typer.Option(10, help="Denoising steps of the timed whole-pipeline clip."),
    repeats: int = typer.Option(3, help="Timed repeats per figure (the median is reported), after a warm-up."),
    cache_interval: int = typer.Option(2, help="The step cache's rows: a full step every this many (>= 2)."),
    cache_depth: int = typer.Option(1, help="The step cache's rows: levels at each end that run on cached steps."),
    json_out: str = typer.Option("outputs/benchmark/speed.json", "--json", help="Where the raw figures go."),
    report: Optional[str] = typer.Option(None, help="Markdown file whose speed section is (re)written."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    debug: bool = typer.Option(False, help="Show full tracebacks on errors."),
) -> None:
    """Seconds per step and per clip, peak memory, parameters and FLOPs of DSDN and of diffusers'
    AnimateDiff with a parameter-matched motion adapter, side by side; plus DSDN's sampling choices and its step
    cache."""
    import json
    from pathlib import Path

    from ..evaluation.speed import SpeedConfig, run_speed, speed_section, write_speed_section

    check_output_file("json", json_out)
    check_output_file("report", report)

    def ints(name, text):
        try:
            return tuple(int(x) for x in text.split(",") if x.strip())
        except ValueError:
            raise DSDNInputError(
                f"--{name.replace('_', '-')}={text!r} is invalid: give comma-separated integers"
            ) from None

    cfg = SpeedConfig(
        scales=tuple(s.strip() for s in scales.split(",") if s.strip()), tiny_frames=ints("tiny_frames", tiny_frames),
        tiny_sizes=ints("tiny_sizes", tiny_sizes), sd15_frames=ints("sd15_frames", sd15_frames),
        sd15_sizes=ints("sd15_sizes", sd15_sizes), clip_steps=clip_steps, repeats=repeats,
        cache_interval=cache_interval, cache_depth=cache_depth,
    )  # fmt: skip
    results = run_speed(cfg, progress=not quiet)
    command = (
        "dsdn benchmark speed "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in (
                ("scales", scales),
                ("tiny_frames", tiny_frames),
                ("tiny_sizes", tiny_sizes),
                ("sd15_frames", sd15_frames),
                ("sd15_sizes", sd15_sizes),
                ("clip_steps", clip_steps),
                ("repeats", repeats),
                ("cache_interval", cache_interval),
                ("cache_depth", cache_depth),
            )  # fmt: skip
        )
        + (f" --report {report}" if report else "")
    )
    Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(json.dumps(results, indent=1))
    typer.echo(speed_section(results, command))
    if report:
        write_speed_section(results, report, command)
        typer.echo(f"wrote {report}")
