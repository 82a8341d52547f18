"""``dsdn benchmark``: quality against the peers, and speed."""

from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import typer

from ..evaluation.speed import SpeedConfig
from ..paths import check_output_file, check_output_folder
from .common import app, boundary, config_command

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
@config_command(SpeedConfig)
def bench_speed_cmd(
    cfg: SpeedConfig,
    quiet: bool,
    json_out: str = typer.Option("outputs/benchmark/speed.json", "--json", help="Where the raw figures go."),
    report: Optional[str] = typer.Option(None, help="Markdown file whose speed section is (re)written."),
) -> None:
    """Seconds per step and per clip, peak memory, parameters and FLOPs of DSDN and of diffusers'
    AnimateDiff with a parameter-matched motion adapter, side by side; plus DSDN's sampling choices and its step
    cache."""
    import json
    from pathlib import Path

    from ..evaluation.speed import run_speed, speed_section, write_speed_section

    check_output_file("json", json_out)
    check_output_file("report", report)
    results = run_speed(cfg, progress=not quiet)
    options = [(name, ",".join(map(str, value)) if isinstance(value, tuple) else value)
               for name, value in asdict(cfg).items() if name != "threads"]  # fmt: skip
    command = "dsdn benchmark speed " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options)
    command += f" --report {report}" if report else ""
    Path(json_out).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(json.dumps(results, indent=1))
    typer.echo(speed_section(results, command))
    if report:
        write_speed_section(results, report, command)
        typer.echo(f"wrote {report}")
